"""Tests of switchboard.realtime: hub, brokers, clients."""
