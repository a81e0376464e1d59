"""Demo applications built on Switchboard, each with its server code and web pages."""
