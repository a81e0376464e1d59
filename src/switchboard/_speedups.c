/* Optional C accelerators; each has a pure-Python fallback or a slower path.
 *
 * apply_mask: XOR masking of frame payloads (RFC 6455 5.3). Pure Python has no
 * fast way to XOR a megabyte with a 4-byte key; this does it 8 bytes at a time.
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

static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &mask))
        return NULL;
    if (mask.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&mask);
        PyErr_SetString(PyExc_ValueError, "mask must be 4 bytes");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        const unsigned char *in = data.buf;
        const unsigned char *key = mask.buf;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        Py_ssize_t n = data.len, i = 0;
        uint64_t key64;
        unsigned char k8[8];
        memcpy(k8, key, 4);
        memcpy(k8 + 4, key, 4);
        memcpy(&key64, k8, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t word;
            memcpy(&word, in + i, 8);
            word ^= key64;
            memcpy(out + i, &word, 8);
        }
        for (; i < n; i++)
            out[i] = in[i] ^ key[i & 3];
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
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
