/* RESP encoder for the SIP path's Redis batches, exactly its Python reference's result.
 *
 * pack(commands): antibot.store.commands.pack (reference: commands._pack, which encodes each
 * command with hiredis.pack_command). Each command is a tuple or list of arguments, encoded as
 * a RESP array of bulk strings (RESP2, "Request-Response model": *<n> CRLF, then per argument
 * $<length> CRLF <bytes> CRLF). An argument is bytes (as is), str (UTF-8; lone surrogates
 * passed through, as the reference's "surrogatepass" retry), int (decimal; bool is refused, as
 * hiredis does) or float (its repr). Anything else raises TypeError.
 *
 * hiredis formats every length with sprintf and builds one bytes object per command before
 * they are joined; here the digits are written by hand into one growing buffer and the result
 * is copied out once: on a call-log batch or a counter sync this was about a ninth of the
 * proxy's instructions.
 *
 * No state, no I/O.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

static int
reserve(buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* "<prefix><n>\r\n" for n >= 0. */
static int
put_count(buf_t *b, char prefix, size_t n)
{
    char digits[24];
    int i = (int)sizeof(digits);
    do {
        digits[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    size_t width = sizeof(digits) - (size_t)i;
    if (reserve(b, width + 3) < 0) {
        return -1;
    }
    b->data[b->len++] = prefix;
    memcpy(b->data + b->len, digits + i, width);
    b->len += width;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    return 0;
}

static int
put_bulk(buf_t *b, const char *data, size_t len)
{
    if (put_count(b, '$', len) < 0 || reserve(b, len + 2) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    return 0;
}

/* The UTF-8 of `text` (a new reference, NULL with an exception set) as a bulk string. */
static int
put_text(buf_t *b, PyObject *text)
{
    if (text == NULL) {
        return -1;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    int rc = utf8 == NULL ? -1 : put_bulk(b, utf8, (size_t)size);
    Py_DECREF(text);
    return rc;
}

/* One argument as a bulk string; -1 with an exception set on error. */
static int
put_arg(buf_t *b, PyObject *arg)
{
    if (PyUnicode_Check(arg)) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(arg, &size);
        if (text != NULL) {
            return put_bulk(b, text, (size_t)size);
        }
        if (!PyErr_ExceptionMatches(PyExc_UnicodeError)) {
            return -1;
        }
        PyErr_Clear(); /* a lone surrogate: passed through, as the reference's retry does */
        PyObject *raw = PyUnicode_AsEncodedString(arg, "utf-8", "surrogatepass");
        if (raw == NULL) {
            return -1;
        }
        int rc = put_bulk(b, PyBytes_AS_STRING(raw), (size_t)PyBytes_GET_SIZE(raw));
        Py_DECREF(raw);
        return rc;
    }
    if (PyBytes_Check(arg)) {
        return put_bulk(b, PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg));
    }
    if (PyLong_Check(arg) && !PyBool_Check(arg)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (overflow) {
            return put_text(b, PyObject_Str(arg)); /* past 64 bits */
        }
        char digits[24];
        int i = (int)sizeof(digits);
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        do {
            digits[--i] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0) {
            digits[--i] = '-';
        }
        return put_bulk(b, digits + i, sizeof(digits) - (size_t)i);
    }
    if (PyFloat_Check(arg)) {
        return put_text(b, PyObject_Repr(arg));
    }
    PyErr_SetString(PyExc_TypeError, "A tuple item must be str, int, float or bytes.");
    return -1;
}

static PyObject *
pack(PyObject *module, PyObject *commands)
{
    PyObject *outer = PySequence_Fast(commands, "pack: commands must be a sequence");
    if (outer == NULL) {
        return NULL;
    }
    buf_t b = {NULL, 0, 0};
    Py_ssize_t n = PySequence_Fast_GET_SIZE(outer);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *inner = PySequence_Fast(PySequence_Fast_GET_ITEM(outer, i), "pack: a command must be a sequence");
        if (inner == NULL) {
            goto error;
        }
        Py_ssize_t argc = PySequence_Fast_GET_SIZE(inner);
        int rc = put_count(&b, '*', (size_t)argc);
        PyObject **args = PySequence_Fast_ITEMS(inner);
        for (Py_ssize_t j = 0; rc == 0 && j < argc; j++) {
            rc = put_arg(&b, args[j]);
        }
        Py_DECREF(inner);
        if (rc < 0) {
            goto error;
        }
    }
    Py_DECREF(outer);
    PyObject *out = PyBytes_FromStringAndSize(b.data ? b.data : "", (Py_ssize_t)b.len);
    PyMem_Free(b.data);
    return out;
error:
    Py_DECREF(outer);
    PyMem_Free(b.data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"pack", (PyCFunction)pack, METH_O, "pack(commands) -> bytes: the RESP encoding of every command"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "antibot.store._resp",
    .m_doc = "RESP encoder for the SIP path's Redis batches (see antibot.store.commands.pack).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__resp(void)
{
    return PyModule_Create(&module);
}
