/* C scanners for the SIP parser's per-line loops, each exactly its Python reference's result.
 *
 * split_lines(head, keys, single, header_type): the fast path of antibot.sip.parser._split_headers
 * (reference: parser._split_lines, which returns the same). It splits a header section
 * (RFC 3261 section 7.3.1: "name: value" lines joined by CRLF, no folding) and returns the
 * tuple (headers, singles, via_values, repeated): for each line Header(name, key, value.strip(),
 * line + CRLF) in `headers`, the first value of each header in `single` by key in `singles`,
 * the Via values in `via_values`, and in `repeated` the key of the first header of `single`
 * that came twice ("" when none; a second Content-Length of the same value is tolerated).
 * It returns None when the section needs the Python path: a folded line, a line without a
 * colon, an empty line, or a name not yet in `keys` (the Python path validates the name and
 * caches it there). It saves the per-line tuple of str.partition and the generic calls of the
 * compiled Python: four objects per line (name, value, line, Header).
 *
 * plain_param(text, wanted, not_plain): antibot.sip.headers.plain_param (reference:
 * headers._plain_param): the value of the first parameter named `wanted` in a plain
 * `name[=value];...` list (RFC 3261 section 25.1 generic-param without quotes or LWS),
 * None when absent, `not_plain` when the list is not plain. One allocation: the value.
 *
 * No state, no I/O.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *crlf; /* "\r\n" */

static int
ascii_equal(PyObject *s, const char *text, Py_ssize_t len)
{
    return PyUnicode_GET_LENGTH(s) == len && PyUnicode_KIND(s) == PyUnicode_1BYTE_KIND &&
           memcmp(PyUnicode_1BYTE_DATA(s), text, (size_t)len) == 0;
}

/* Record a header allowed once; 1 when it repeats (the caller's `repeated`), 0, or -1 on error. */
static int
single_value(PyObject *singles, PyObject *key, PyObject *value)
{
    PyObject *old = PyDict_GetItemWithError(singles, key);
    if (old == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        return PyDict_SetItem(singles, key, value) < 0 ? -1 : 0;
    }
    if (ascii_equal(key, "content-length", 14)) {
        int same = PyObject_RichCompareBool(old, value, Py_EQ);
        if (same != 0) {
            return same < 0 ? -1 : 0;
        }
    }
    return 1;
}

static PyObject *
split_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "split_lines() takes 4 arguments");
        return NULL;
    }
    PyObject *head = args[0], *keys = args[1], *single = args[2], *type_arg = args[3];
    if (!PyUnicode_Check(head) || !PyDict_Check(keys) || !PyAnySet_Check(single) || !PyType_Check(type_arg) ||
        !PyType_IsSubtype((PyTypeObject *)type_arg, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "split_lines(str, dict, set, tuple subtype)");
        return NULL;
    }
    PyTypeObject *header_type = (PyTypeObject *)type_arg;
    if (PyUnicode_KIND(head) != PyUnicode_1BYTE_KIND) {
        Py_RETURN_NONE; /* not latin-1 text: not from the parser */
    }
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(head);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(head);
    PyObject *out = PyList_New(0), *singles = PyDict_New(), *vias = PyList_New(0);
    PyObject *repeated = NULL;
    if (out == NULL || singles == NULL || vias == NULL) {
        goto error;
    }
    Py_ssize_t start = 0;
    for (;;) {
        /* The line is s[start:eol]; `last` when no CRLF follows it (str.split("\r\n")). */
        Py_ssize_t eol = n;
        int last = 1;
        const Py_UCS1 *p = s + start;
        while ((p = memchr(p, '\r', (size_t)(s + n - p))) != NULL) {
            if (p + 1 < s + n && p[1] == '\n') {
                eol = p - s;
                last = 0;
                break;
            }
            p++;
        }
        if (eol == start || s[start] == ' ' || s[start] == '\t') {
            goto python; /* an empty line, or folding (RFC 3261 section 7.3.1) */
        }
        const Py_UCS1 *colon = memchr(s + start, ':', (size_t)(eol - start));
        if (colon == NULL) {
            goto python;
        }
        Py_ssize_t name_end = colon - s;
        PyObject *name = PyUnicode_Substring(head, start, name_end);
        if (name == NULL) {
            goto error;
        }
        PyObject *key = PyDict_GetItemWithError(keys, name); /* borrowed */
        if (key == NULL) {
            Py_DECREF(name);
            if (PyErr_Occurred()) {
                goto error;
            }
            goto python;
        }
        if (!PyUnicode_Check(key)) {
            Py_DECREF(name);
            goto python;
        }
        Py_INCREF(key); /* the dict may change while we allocate */
        Py_ssize_t vs = name_end + 1, ve = eol;
        while (vs < ve && Py_UNICODE_ISSPACE(s[vs])) {
            vs++;
        }
        while (ve > vs && Py_UNICODE_ISSPACE(s[ve - 1])) {
            ve--;
        }
        PyObject *value = PyUnicode_Substring(head, vs, ve);
        PyObject *line = NULL;
        if (value != NULL) {
            if (!last) {
                line = PyUnicode_Substring(head, start, eol + 2);
            } else {
                PyObject *bare = PyUnicode_Substring(head, start, eol);
                if (bare != NULL) {
                    line = PyUnicode_Concat(bare, crlf);
                    Py_DECREF(bare);
                }
            }
        }
        PyObject *header = line != NULL ? header_type->tp_alloc(header_type, 4) : NULL;
        if (header == NULL) {
            Py_DECREF(name);
            Py_DECREF(key);
            Py_XDECREF(value);
            Py_XDECREF(line);
            goto error;
        }
        PyTuple_SET_ITEM(header, 0, name);
        Py_INCREF(key);
        PyTuple_SET_ITEM(header, 1, key);
        Py_INCREF(value);
        PyTuple_SET_ITEM(header, 2, value);
        PyTuple_SET_ITEM(header, 3, line);
        int failed = PyList_Append(out, header);
        Py_DECREF(header);
        if (!failed) {
            if (ascii_equal(key, "via", 3)) {
                failed = PyList_Append(vias, value);
            } else if (repeated == NULL) {
                int once = PySet_Contains(single, key);
                if (once > 0) {
                    once = single_value(singles, key, value);
                    if (once > 0) {
                        repeated = key;
                        Py_INCREF(repeated);
                    }
                }
                failed = once < 0;
            }
        }
        Py_DECREF(value);
        Py_DECREF(key);
        if (failed) {
            goto error;
        }
        if (last) {
            break;
        }
        start = eol + 2;
    }
    if (repeated == NULL && (repeated = PyUnicode_New(0, 0)) == NULL) {
        goto error;
    }
    PyObject *result = PyTuple_New(4);
    if (result == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(result, 0, out); /* the tuple takes the four references */
    PyTuple_SET_ITEM(result, 1, singles);
    PyTuple_SET_ITEM(result, 2, vias);
    PyTuple_SET_ITEM(result, 3, repeated);
    return result;
python:
    Py_DECREF(out);
    Py_DECREF(singles);
    Py_DECREF(vias);
    Py_XDECREF(repeated);
    Py_RETURN_NONE;
error:
    Py_XDECREF(out);
    Py_XDECREF(singles);
    Py_XDECREF(vias);
    Py_XDECREF(repeated);
    return NULL;
}

/* RFC 3261 section 25.1 token characters (headers.TOKEN_STR). */
static const char token_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~";
static unsigned char is_token_char[128];

static PyObject *
plain_param(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "plain_param(text: str, wanted: str, not_plain)");
        return NULL;
    }
    PyObject *text = args[0], *wanted = args[1], *not_plain = args[2];
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int wkind = PyUnicode_KIND(wanted);
    const void *wdata = PyUnicode_DATA(wanted);
    const Py_ssize_t wlen = PyUnicode_GET_LENGTH(wanted);
    Py_ssize_t found_start = -1, found_end = -1;
    Py_ssize_t i = 0;
    for (;;) { /* one item of text.split(";"): [i, j) */
        Py_ssize_t j = i, eq = -1;
        while (j < n) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, j);
            if (ch == ';') {
                break;
            }
            if (ch == '=' && eq < 0) {
                eq = j;
            }
            j++;
        }
        const Py_ssize_t name_end = eq < 0 ? j : eq;
        if (name_end == i) {
            goto not_plain; /* an empty name */
        }
        for (Py_ssize_t k = i; k < name_end; k++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, k);
            if (ch >= 128 || !is_token_char[ch]) {
                goto not_plain;
            }
        }
        if (eq >= 0) {
            if (eq + 1 == j) {
                goto not_plain; /* "name=" */
            }
            for (Py_ssize_t k = eq + 1; k < j; k++) {
                Py_UCS4 ch = PyUnicode_READ(kind, data, k);
                if (ch == '"' || ch == ' ' || !Py_UNICODE_ISPRINTABLE(ch)) {
                    goto not_plain;
                }
            }
        }
        if (found_start < 0 && name_end - i == wlen) {
            Py_ssize_t k = 0;
            while (k < wlen) { /* name is ASCII (token characters): ASCII lower case */
                Py_UCS4 ch = PyUnicode_READ(kind, data, i + k);
                if (ch >= 'A' && ch <= 'Z') {
                    ch += 'a' - 'A';
                }
                if (ch != PyUnicode_READ(wkind, wdata, k)) {
                    break;
                }
                k++;
            }
            if (k == wlen) {
                found_start = eq < 0 ? j : eq + 1;
                found_end = j;
            }
        }
        if (j >= n) {
            break;
        }
        i = j + 1;
    }
    if (found_start < 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_Substring(text, found_start, found_end);
not_plain:
    Py_INCREF(not_plain);
    return not_plain;
}

static PyMethodDef methods[] = {
    {"split_lines", (PyCFunction)(void (*)(void))split_lines, METH_FASTCALL,
     "split_lines(head, keys, single, header_type) -> (headers, singles, via_values, repeated) | None"},
    {"plain_param", (PyCFunction)(void (*)(void))plain_param, METH_FASTCALL,
     "plain_param(text, wanted, not_plain) -> str | None | not_plain"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "antibot.sip._scan",
    .m_doc = "C scanners for the SIP parser (see antibot.sip.parser and antibot.sip.headers).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    for (const char *c = token_chars; *c; c++) {
        is_token_char[(unsigned char)*c] = 1;
    }
    crlf = PyUnicode_InternFromString("\r\n");
    if (crlf == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
