/* Optional C accelerator: XOR masking of frame payloads (RFC 6455 5.3).
 * Pure Python has no fast way to XOR a megabyte with a 4-byte key; this does it
 * 8 bytes at a time. switchboard.protocol.frames falls back to Python without it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

static PyMethodDef methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS, "XOR data with a repeating 4-byte mask."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "switchboard._speedups", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
