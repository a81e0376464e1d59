/* Optional C accelerators; each has a pure-Python fallback or a slower path.
 *
 * apply_mask, unmask_join: XOR masking of frame payloads (RFC 6455 5.3). Pure
 * Python has no fast way to XOR a megabyte with a 4-byte key.
 *
 * parse_message, frame_message: the whole parse of a lone small frame, and the
 * framing of a server's message, as one call each (the per-message path).
 *
 * step: one step of a coroutine without raising StopIteration when it returns (an
 * exception costs more than the rest of a short request).
 *
 * json_depth: how deep a JSON text nests, in one pass over it: the real-time
 * layer's depth limit, checked without walking the parsed objects.
 *
 * parse_head: the head of an HTTP/1.1 request without a body, as an upgrade
 * request is, in one pass (the handshake's path; the regular expressions and
 * string methods of the Python version cost a quarter of a handshake's bytecodes).
 *
 * send_nowait, send_to_ready: non-blocking send() straight to a socket, for
 * switchboard._direct (which says when that is safe). A small write through a
 * transport costs more than the system call itself, and broadcasting to a
 * thousand sockets is a thousand such writes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifndef _WIN32
#include <errno.h>
#include <sys/socket.h>
#endif

/* out[i] = in[i] ^ key[(i + phase) & 3] for n bytes; out may be in. 16 bytes a step
 * with GCC or Clang vectors (SSE2 on any x86-64, NEON on arm64), four at a time
 * (other compilers get the byte loop, which they vectorize themselves): memory
 * speed for a megabyte, where a plain word loop costs four instructions per word. */
static void
mask_bytes(unsigned char *out, const unsigned char *in, Py_ssize_t n, const unsigned char *key,
           Py_ssize_t phase)
{
    unsigned char k16[16];
    for (int j = 0; j < 16; j++)
        k16[j] = key[(j + phase) & 3];
    Py_ssize_t i = 0;
#if defined(__GNUC__) || defined(__clang__)
    typedef unsigned char v16 __attribute__((vector_size(16)));
    v16 kv;
    memcpy(&kv, k16, 16);
    for (; i + 64 <= n; i += 64) { /* four vectors a step: fewer loop instructions */
        v16 a, b, c, d;
        memcpy(&a, in + i, 16);
        memcpy(&b, in + i + 16, 16);
        memcpy(&c, in + i + 32, 16);
        memcpy(&d, in + i + 48, 16);
        a ^= kv, b ^= kv, c ^= kv, d ^= kv;
        memcpy(out + i, &a, 16);
        memcpy(out + i + 16, &b, 16);
        memcpy(out + i + 32, &c, 16);
        memcpy(out + i + 48, &d, 16);
    }
    for (; i + 16 <= n; i += 16) {
        v16 word;
        memcpy(&word, in + i, 16);
        word ^= kv;
        memcpy(out + i, &word, 16);
    }
#endif
    for (; i < n; i++)
        out[i] = in[i] ^ k16[i & 15];
}

static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &mask))
        return NULL;
    PyObject *result = NULL;
    if (mask.len != 4)
        PyErr_SetString(PyExc_ValueError, "mask must be 4 bytes");
    else if ((result = PyBytes_FromStringAndSize(NULL, data.len)) != NULL)
        mask_bytes((unsigned char *)PyBytes_AS_STRING(result), data.buf, data.len, mask.buf, 0);
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

/* unmask_join(chunks: sequence of buffers, mask) -> bytes: the chunks joined and
 * unmasked in one pass, for a large frame's payload that arrived in many reads: no
 * buffer it is gathered into first, no second pass to unmask it. */
static PyObject *
unmask_join(PyObject *self, PyObject *args)
{
    PyObject *sequence, *chunks = NULL, *result = NULL;
    Py_buffer mask;
    if (!PyArg_ParseTuple(args, "Oy*:unmask_join", &sequence, &mask))
        return NULL;
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must be 4 bytes");
        goto done;
    }
    chunks = PySequence_Fast(sequence, "unmask_join: chunks must be a sequence of buffers");
    if (chunks == NULL)
        goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(chunks), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(chunks);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_buffer part;
        if (PyObject_GetBuffer(items[i], &part, PyBUF_SIMPLE) < 0)
            goto done;
        total += part.len;
        PyBuffer_Release(&part);
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL)
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    Py_ssize_t at = 0;
    /* No Python code runs between the two loops, so the sizes cannot change. */
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_buffer part;
        if (PyObject_GetBuffer(items[i], &part, PyBUF_SIMPLE) < 0) {
            Py_CLEAR(result);
            goto done;
        }
        mask_bytes(out + at, part.buf, part.len, mask.buf, at & 3);
        at += part.len;
        PyBuffer_Release(&part);
    }
done:
    Py_XDECREF(chunks);
    PyBuffer_Release(&mask);
    return result;
}

/* parse_message(data, masked: bool, max_size: int) -> str | bytes | None
 *
 * The message of data if data is exactly one complete data frame: FIN, no RSV
 * bits, text or binary, masked as the role requires, at most max_size (and 65535)
 * bytes, valid UTF-8 if text; else None, and the caller parses data the general
 * way, which also reports what is wrong with it. For the lone small message, the
 * common case, this is the whole parse: no memoryview, no event object. */
static PyObject *
parse_message(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[0])) {
        if (nargs == 3)
            Py_RETURN_NONE; /* another buffer type: the general path takes it */
        PyErr_SetString(PyExc_TypeError, "parse_message(data, masked, max_size)");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    int masked = PyObject_IsTrue(args[1]);
    Py_ssize_t max_size = PyLong_AsSsize_t(args[2]);
    if (masked < 0 || (max_size == -1 && PyErr_Occurred()))
        return NULL;
    if (n < 2 || (p[0] != 0x81 && p[0] != 0x82) || (p[1] >> 7) != masked)
        Py_RETURN_NONE;
    Py_ssize_t length = p[1] & 0x7F, header = 2;
    if (length == 127)
        Py_RETURN_NONE;
    if (length == 126) {
        if (n < 4)
            Py_RETURN_NONE;
        length = (p[2] << 8) | p[3];
        header = 4;
    }
    const unsigned char *key = p + header;
    if (masked)
        header += 4;
    if (header + length != n || length > max_size)
        Py_RETURN_NONE;
    const unsigned char *payload = p + header;
    if (p[0] == 0x82) {
        PyObject *result = PyBytes_FromStringAndSize(masked ? NULL : (const char *)payload, length);
        if (result != NULL && masked)
            mask_bytes((unsigned char *)PyBytes_AS_STRING(result), payload, length, key, 0);
        return result;
    }
    unsigned char small[512], *text = (unsigned char *)payload;
    if (masked) {
        text = length <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc(length);
        if (text == NULL)
            return PyErr_NoMemory();
        mask_bytes(text, payload, length, key, 0);
    }
    PyObject *result = PyUnicode_DecodeUTF8((const char *)text, length, NULL);
    if (text != small && text != payload)
        PyMem_Free(text);
    if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear(); /* the general path fails the connection with 1007 */
        Py_RETURN_NONE;
    }
    return result;
}

/* frame_message(first: int, payload: str | bytes-like) -> bytes: an unmasked frame
 * (a server's), header and payload in one object; str is sent as its UTF-8. */
static PyObject *
frame_message(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "frame_message(first, payload)");
        return NULL;
    }
    long first = PyLong_AsLong(args[0]);
    if (first == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view = {0};
    const char *data;
    Py_ssize_t length;
    if (PyUnicode_Check(args[1])) {
        data = PyUnicode_AsUTF8AndSize(args[1], &length); /* cached for ASCII */
        if (data == NULL)
            return NULL;
    } else {
        if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0)
            return NULL;
        data = view.buf;
        length = view.len;
    }
    Py_ssize_t header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    PyObject *result = PyBytes_FromStringAndSize(NULL, header + length);
    if (result != NULL) {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        out[0] = (unsigned char)first;
        if (header == 2) {
            out[1] = (unsigned char)length;
        } else if (header == 4) {
            out[1] = 126;
            out[2] = (unsigned char)(length >> 8);
            out[3] = (unsigned char)length;
        } else {
            out[1] = 127;
            for (int i = 0; i < 8; i++)
                out[2 + i] = (unsigned char)((uint64_t)length >> (56 - 8 * i));
        }
        memcpy(out + header, data, length);
    }
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    return result;
}

/* step(coroutine) -> (done, value): coroutine.send(None), without StopIteration:
 * (True, its return value) when it returned, (False, what it yielded) when it is
 * suspended; an exception it raises propagates. */
static PyObject *
step(PyObject *self, PyObject *coroutine)
{
    PyObject *value;
    PySendResult result = PyIter_Send(coroutine, Py_None, &value);
    if (result == PYGEN_ERROR)
        return NULL;
    PyObject *pair = PyTuple_Pack(2, result == PYGEN_RETURN ? Py_True : Py_False, value);
    Py_DECREF(value);
    return pair;
}

/* json_depth(text: str) -> int: the deepest nesting of objects and arrays in a JSON
 * text (0 for a scalar), brackets inside strings not counted. Meant for valid JSON
 * (the caller parses it first); for other text the number means nothing. ASCII
 * and Latin-1 text (the usual kind) skips each string with memchr: a message is
 * mostly strings, so this costs about one instruction per character of markup. */
static const unsigned char json_markup[256] = {
    ['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3,
};

static Py_ssize_t
json_depth_1byte(const unsigned char *c, Py_ssize_t n)
{
    Py_ssize_t depth = 0, deepest = 0;
    const unsigned char *end = c + n;
    while (c < end) {
        switch (json_markup[*c++]) {
        case 1: /* a string: to the first quote not escaped */
            for (;;) {
                const unsigned char *quote = memchr(c, '"', (size_t)(end - c));
                if (quote == NULL)
                    return deepest;
                const unsigned char *b = quote;
                while (b > c && b[-1] == '\\')
                    b--;
                c = quote + 1;
                if (((quote - b) & 1) == 0) /* an even run of backslashes escapes none */
                    break;
            }
            break;
        case 2:
            if (++depth > deepest)
                deepest = depth;
            break;
        case 3:
            depth--;
            break;
        }
    }
    return deepest;
}

#define JSON_DEPTH_LOOP(TYPE)                                                              \
    do {                                                                                   \
        const TYPE *c = (const TYPE *)data;                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                               \
            Py_UCS4 ch = c[i];                                                             \
            if (ch == '"') {                                                               \
                for (i++; i < n && c[i] != '"'; i++)                                       \
                    if (c[i] == '\\')                                                      \
                        i++;                                                               \
            } else if (ch == '{' || ch == '[') {                                           \
                if (++depth > deepest)                                                     \
                    deepest = depth;                                                       \
            } else if (ch == '}' || ch == ']') {                                           \
                depth--;                                                                   \
            }                                                                              \
        }                                                                                  \
    } while (0)

static PyObject *
json_depth(PyObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "json_depth(text: str)");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), depth = 0, deepest = 0;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        deepest = json_depth_1byte((const unsigned char *)data, n);
        break;
    case PyUnicode_2BYTE_KIND:
        JSON_DEPTH_LOOP(Py_UCS2);
        break;
    default:
        JSON_DEPTH_LOOP(Py_UCS4);
        break;
    }
    return PyLong_FromSsize_t(deepest);
}

/* RFC 9110 5.6.2 tchar: what a method or a field name is made of. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static PyObject *
interned(const char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_FromStringAndSize(p, n);  /* ASCII: a tchar string */
    if (s != NULL)
        PyUnicode_InternInPlace(&s);
    return s;
}

/* Where the line at line ends (its CR, or stop for the last line before the blank
 * one), or NULL if it is longer than max_line or has a CR without LF. */
static const unsigned char *
line_end(const unsigned char *line, const unsigned char *stop, Py_ssize_t max_line)
{
    const unsigned char *eol = memchr(line, '\r', (size_t)(stop - line));
    if (eol == NULL)
        eol = stop;
    if (eol - line > max_line || (eol < stop && eol[1] != '\n'))
        return NULL;
    return eol;
}

/* parse_head(buf, max_header_size, max_header_count, max_line_length)
 *     -> (end, method, target, version, items, index) | None
 *
 * The request head at the start of buf if all of it is there (its blank line
 * within max_header_size bytes) and every line is well formed and within the
 * limits: the request line "tchar+ SP [!-~]+ SP HTTP/1.d", then "tchar+:value"
 * fields (value: HTAB, SP-~ and 0x80-0xFF, stripped of SP and HTAB, Latin-1).
 * end is where the blank line starts; items the (name, value) pairs, names
 * interned; index maps each lower-case name to its values. None otherwise: the
 * incremental parser reads the same bytes and says what is wrong. The same result
 * as http11._parse_head_python. */
static PyObject *
parse_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_head() takes 4 arguments");
        return NULL;
    }
    Py_ssize_t max_size = PyLong_AsSsize_t(args[1]);
    Py_ssize_t max_count = PyLong_AsSsize_t(args[2]);
    Py_ssize_t max_line = PyLong_AsSsize_t(args[3]);
    if ((max_size == -1 || max_count == -1 || max_line == -1) && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL, *items = NULL, *index = NULL;
    PyObject *method = NULL, *target = NULL, *version = NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t size = view.len < max_size ? view.len : max_size;
    Py_ssize_t end = -1;
    for (const unsigned char *p = buf; size >= 4 && p <= buf + size - 4; p++) {
        p = memchr(p, '\r', (size_t)(buf + size - 3 - p));
        if (p == NULL)
            break;
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            end = p - buf;
            break;
        }
    }
    if (end < 0)
        goto none;
    /* The request line. */
    const unsigned char *line = buf, *stop = buf + end;
    const unsigned char *eol = line_end(line, stop, max_line);
    if (eol == NULL)
        goto none;
    const unsigned char *p = line;
    while (p < eol && tchar[*p])
        p++;
    if (p == line || p >= eol || *p != ' ')
        goto none;
    const unsigned char *target_start = ++p;
    while (p < eol && *p >= 0x21 && *p <= 0x7e)
        p++;
    if (p == target_start || p >= eol || *p != ' ')
        goto none;
    const unsigned char *version_start = ++p;
    if (eol - version_start != 8 || memcmp(version_start, "HTTP/1.", 7) != 0 ||
        version_start[7] < '0' || version_start[7] > '9')
        goto none;
    items = PyList_New(0);
    index = PyDict_New();
    if (items == NULL || index == NULL)
        goto done;
    Py_ssize_t count = 0;
    for (line = eol + 2; eol < stop; line = eol + 2) {
        eol = line_end(line, stop, max_line);
        if (eol == NULL || ++count > max_count)
            goto none;
        int upper = 0;
        for (p = line; p < eol && tchar[*p]; p++)
            upper |= *p >= 'A' && *p <= 'Z';
        Py_ssize_t name_len = p - line;
        if (name_len == 0 || p >= eol || *p != ':')
            goto none;
        const unsigned char *value = ++p, *value_end = eol;
        for (; p < eol; p++)
            if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                goto none;
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        PyObject *name = interned((const char *)line, name_len);
        if (name == NULL)
            goto done;
        PyObject *text = PyUnicode_DecodeLatin1((const char *)value, value_end - value, NULL);
        PyObject *pair = text == NULL ? NULL : PyTuple_Pack(2, name, text);
        int failed = pair == NULL || PyList_Append(items, pair) < 0;
        Py_XDECREF(pair);
        PyObject *key = NULL;
        if (!failed && !upper) {
            key = name;
            Py_INCREF(key);
        } else if (!failed) {
            key = PyUnicode_New(name_len, 127); /* the name in lower case */
            failed = key == NULL;
            for (Py_ssize_t i = 0; !failed && i < name_len; i++) {
                unsigned char c = line[i];
                PyUnicode_1BYTE_DATA(key)[i] = (Py_UCS1)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
        }
        Py_DECREF(name);
        if (!failed) {
            PyObject *values = PyDict_GetItemWithError(index, key);  /* borrowed */
            if (values != NULL) {
                failed = PyList_Append(values, text) < 0;
            } else if (PyErr_Occurred()) {
                failed = 1;
            } else {
                values = PyList_New(1);
                failed = values == NULL;
                if (!failed) {
                    Py_INCREF(text);
                    PyList_SET_ITEM(values, 0, text);
                    failed = PyDict_SetItem(index, key, values) < 0;
                    Py_DECREF(values);
                }
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(text);
        if (failed)
            goto done;
    }
    method = interned((const char *)buf, target_start - 1 - buf);
    target = PyUnicode_DecodeASCII((const char *)target_start, version_start - 1 - target_start,
                                   NULL);
    version = interned((const char *)version_start, 8);
    if (method != NULL && target != NULL && version != NULL)
        result = Py_BuildValue("(nOOOOO)", end, method, target, version, items, index);
    goto done;
none:
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(method);
    Py_XDECREF(target);
    Py_XDECREF(version);
    Py_XDECREF(items);
    Py_XDECREF(index);
    PyBuffer_Release(&view);
    return result;
}

#ifndef _WIN32
#ifdef MSG_NOSIGNAL
#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
#else
#define SEND_FLAGS MSG_DONTWAIT /* Python ignores SIGPIPE anyway */
#endif

/* Bytes sent, or 0 when none could be: errors are not raised, because the caller
 * hands the unsent rest to the transport, which then meets the same condition
 * (EAGAIN: it buffers; a dead peer: it closes the connection and says why). */
static Py_ssize_t
send_some(int fd, const char *buf, Py_ssize_t len)
{
    ssize_t n;
    do {
        n = send(fd, buf, (size_t)len, SEND_FLAGS);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? 0 : (Py_ssize_t)n;
}

/* send_nowait(fd: int, data: bytes-like) -> int: how many bytes were sent. */
static PyObject *
send_nowait(PyObject *self, PyObject *args)
{
    int fd;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "iy*:send_nowait", &fd, &data))
        return NULL;
    Py_ssize_t n = send_some(fd, data.buf, data.len);
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(n);
}

/* send_to_ready(fds, ready, frame, message_counts, byte_counts) -> list[tuple[int, int]]
 *
 * fds: array('i') of sockets; ready: bytearray indexed by fd, nonzero where a
 * frame may be sent straight to the socket; messages, bytes: array('Q') indexed by
 * fd, counters bumped for each full send. Sends frame to every ready socket and
 * returns (index into fds, bytes already sent) for every socket it did not fill:
 * not ready, or a short send (whose ready flag it clears). */
static PyObject *
send_to_ready(PyObject *self, PyObject *args)
{
    Py_buffer fds, ready, frame, messages, bytes;
    if (!PyArg_ParseTuple(args, "y*w*y*w*w*:send_to_ready", &fds, &ready, &frame, &messages,
                          &bytes))
        return NULL;
    PyObject *missed = NULL;
    if (fds.itemsize != sizeof(int) || messages.itemsize != 8 || bytes.itemsize != 8 ||
        messages.len != ready.len * 8 || bytes.len != ready.len * 8) {
        PyErr_SetString(PyExc_TypeError, "send_to_ready: array('i'), bytearray, bytes, "
                                         "array('Q') and array('Q') of the bytearray's length");
        goto done;
    }
    missed = PyList_New(0);
    if (missed == NULL)
        goto done;
    const int *fd = fds.buf;
    unsigned char *is_ready = ready.buf;
    uint64_t *message_count = messages.buf, *byte_count = bytes.buf;
    Py_ssize_t count = fds.len / (Py_ssize_t)sizeof(int);
    for (Py_ssize_t i = 0; i < count; i++) {
        int f = fd[i];
        Py_ssize_t sent = 0;
        if (f >= 0 && f < ready.len && is_ready[f]) {
            sent = send_some(f, frame.buf, frame.len);
            if (sent == frame.len) {
                message_count[f] += 1;
                byte_count[f] += (uint64_t)sent;
                continue;
            }
            is_ready[f] = 0;
        }
        PyObject *item = Py_BuildValue("(nn)", i, sent);
        if (item == NULL || PyList_Append(missed, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(missed);
            goto done;
        }
        Py_DECREF(item);
    }
done:
    PyBuffer_Release(&fds);
    PyBuffer_Release(&ready);
    PyBuffer_Release(&frame);
    PyBuffer_Release(&messages);
    PyBuffer_Release(&bytes);
    return missed;
}
#endif

static PyMethodDef methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS, "XOR data with a repeating 4-byte mask."},
    {"unmask_join", unmask_join, METH_VARARGS, "Join buffers and XOR them with a 4-byte mask."},
    {"parse_message", (PyCFunction)(void (*)(void))parse_message, METH_FASTCALL,
     "The message of a bytes object that is exactly one small data frame, else None."},
    {"frame_message", (PyCFunction)(void (*)(void))frame_message, METH_FASTCALL,
     "An unmasked frame of a str (as UTF-8) or bytes-like payload."},
    {"step", step, METH_O, "One step of a coroutine: (done, return value or what it yielded)."},
    {"json_depth", json_depth, METH_O, "How deep a JSON text nests objects and arrays."},
    {"parse_head", (PyCFunction)(void (*)(void))parse_head, METH_FASTCALL,
     "The head of a request without a body, in one pass; None if anything is off."},
#ifndef _WIN32
    {"send_nowait", send_nowait, METH_VARARGS,
     "Send bytes on a socket without blocking; return how many were sent."},
    {"send_to_ready", send_to_ready, METH_VARARGS,
     "Send a frame to every ready socket of an array; return the ones it missed."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "switchboard._speedups", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
