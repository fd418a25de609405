/* deidc._scan: the fast path's inner loop over element headers, in C.
 *
 * The streaming fast path (deidc/execute/fast.py) spends most of its time recognising "plain"
 * elements: ones the plan can neither change nor drop, whose bytes are copied as they are.  A
 * small file has a few hundred of them and Python needs ~0.5 us per header; this does the same
 * test in a few nanoseconds.  It is only an accelerator: it advances over plain elements and
 * stops at the first element that is anything else (or looks wrong in any way), which the
 * Python loop then handles exactly as it would without it.  So a stop here is always safe, and
 * the rule is that this code never skips an element the Python test would not skip
 * (tests/test_fastpath.py runs every byte-identity test with and without it).
 *
 * At the top level it also does two things Python would stop for, when their result is known
 * already.  It writes the runs of absent elements a plan's replace-with inserts, once the walk
 * has made that run: a Penn BSC profile inserts some 60 into every file, in a dozen runs
 * between the elements present, and the bytes of a run are the same in every file.  And it
 * passes the attributes the plan transforms and nothing else watches (the walk's lanes), once
 * the walk has met their value: files of a series share most values.  A lane that only
 * replaces (a Penn BSC profile empties some ten attributes whose values are new in every
 * file) needs no value met: plain ASCII text is either the constant already or replaced by
 * it.  A Python stop cost more than the rest of the scan.
 *
 * Explicit VR little endian, and implicit VR little endian when given the tags the dictionary
 * makes sequences (the walk's ``sequences``).  Undefined lengths are for Python, and so are
 * sequences, but for the short ones of a plan that enters none: copied whole, or, in a lane,
 * dropped or emptied by replace-with ''.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define UNDEFINED 0xFFFFFFFFu
#define PATIENT_AGE 0x00101010LL
#define END_TAG 0x100000000LL /* past every tag: fast._END */

/* VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2); stream.LONG_VRS. */
static int
long_vr(unsigned char a, unsigned char b)
{
    switch (a) {
    case 'O': return b == 'B' || b == 'D' || b == 'F' || b == 'L' || b == 'V' || b == 'W';
    case 'S': return b == 'Q' || b == 'V';
    case 'U': return b == 'C' || b == 'N' || b == 'R' || b == 'T' || b == 'V';
    default: return 0;
    }
}

static int
contains(PyObject *container, uint32_t tag)
{
    PyObject *key = PyLong_FromUnsignedLong(tag);
    if (key == NULL)
        return -1;
    int found = PySequence_Contains(container, key);
    Py_DECREF(key);
    return found;
}

PyDoc_STRVAR(skip_plain_doc,
"skip_plain(buffer, offset, stop, previous, next_stop, special, odd_plain, keep, top,\n"
"           drop_private, kept_groups, run, out, sequences, inserts, codec, age_pending,\n"
"           context)\n"
"--\n\n"
"Advance over the elements starting at ``offset`` that the fast path's walk passes without\n"
"looking (see ``fast._Walk.dataset``): plain elements, which stay in the current run of\n"
"bytes to copy, and, with ``drop_private``, private elements of groups with nothing kept, which\n"
"are dropped (the run so far is queued on ``out`` first, merged as ``_Walk.copy`` does).\n"
"At the top level it also does two things the walk would do in Python, when what they write\n"
"is known already.  Before a plain element or one of ``special`` past ``next_stop``, it writes\n"
"what ``_Walk.catch_up`` writes (``inserts``: the walk's pending inserts, else None), when\n"
"``FastPlan.inserted_run`` made that run of inserts before.  And it passes an element of the\n"
"plan's lanes as ``_Walk.in_lane`` does, when the lane removes it, when the walk met its value\n"
"before (its outcome is in the context's table), or when the lane only replaces and the value\n"
"is plain ASCII text (``_Walk.constant_outcome`` made the constant's bytes).  The patient age\n"
"(``age_pending``), a new run and any other new value are Python's.\n"
"``context``: ``_Walk.scan_context``, the walk's tables for those two.\n"
"Returns ``(offset, previous, run, changed, next_stop)``: where the first element to look at\n"
"starts (or ``stop``), the tag of the last element passed, where the current run starts,\n"
"whether anything was dropped, inserted or replaced, and the next tag to stop at.\n"
"``special``, ``keep`` (or None) and ``kept_groups`` are sets; ``sequences``: None for\n"
"explicit VR, else the set of sequence tags of an implicit VR file.");

/* Queue input bytes [start, end) on the output list, extending its last range if adjacent. */
static int
queue_copy(PyObject *out, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t size = PyList_GET_SIZE(out);
    if (size) {
        PyObject *last = PyList_GET_ITEM(out, size - 1);
        if (PyList_CheckExact(last) && PyList_GET_SIZE(last) == 2) {
            Py_ssize_t last_end = PyLong_AsSsize_t(PyList_GET_ITEM(last, 1));
            if (last_end == -1 && PyErr_Occurred())
                return -1;
            if (last_end == start) {
                PyObject *value = PyLong_FromSsize_t(end);
                if (value == NULL)
                    return -1;
                return PyList_SetItem(last, 1, value);
            }
        }
    }
    PyObject *range = Py_BuildValue("[nn]", start, end);
    if (range == NULL)
        return -1;
    int failed = PyList_Append(out, range);
    Py_DECREF(range);
    return failed;
}

/* The tag of the walk's pending insert ``index`` (a (tag, what) tuple), END_TAG past the last;
   -1 with an exception set if it is not one. */
static long long
insert_tag(PyObject *inserts, Py_ssize_t index)
{
    if (index >= PyList_GET_SIZE(inserts))
        return END_TAG;
    PyObject *pending = PyList_GET_ITEM(inserts, index);
    if (!PyTuple_Check(pending) || PyTuple_GET_SIZE(pending) < 1) {
        PyErr_SetString(PyExc_TypeError, "an insert must be a (tag, what) tuple");
        return -1;
    }
    return PyLong_AsLongLong(PyTuple_GET_ITEM(pending, 0));
}

/* The ``size``-tuple ``table`` holds under ``key``, borrowed; ``key`` is a new reference,
   released here (NULL: it could not be made).  NULL when there is none, or something else
   (Python's to deal with), with ``*error`` set when an exception was raised. */
static PyObject *
cached_tuple(PyObject *table, PyObject *key, Py_ssize_t size, int *error)
{
    if (key == NULL) {
        *error = 1;
        return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(table, key);
    Py_DECREF(key);
    if (found == NULL) {
        *error = PyErr_Occurred() != NULL;
        return NULL;
    }
    return PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) == size ? found : NULL;
}

/* _Walk.catch_up before the element ``tag`` at ``offset`` when no patient age comes first: the
   inserts before it, as the run FastPlan.inserted_run made of them (queued after the bytes of
   the current run), and the insert of ``tag`` itself dropped (it is present).  Returns 1 when
   done (``*first``: the tag of the insert now pending first), 0 when the run is not in
   ``runs`` (Python makes it: nothing was changed here), -1 on an error. */
static int
insert_before(long long tag, Py_ssize_t offset, Py_ssize_t *run, PyObject *out,
              PyObject *inserts, Py_ssize_t total, PyObject *runs, PyObject *implicit,
              PyObject *codec, PyObject *after, int *changed, long long *first)
{
    Py_ssize_t pending = PyList_GET_SIZE(inserts);
    Py_ssize_t count = 0;
    long long next;
    while ((next = insert_tag(inserts, count)) < tag) {
        if (next < 0)
            return -1;
        count++;
    }
    if (count) {
        int error = 0;
        PyObject *made = cached_tuple(
            runs, Py_BuildValue("(nnOO)", total - pending, count, implicit, codec), 2, &error);
        if (made == NULL)
            return -error;
        /* anything but (bytes, dict) is a refusal, which Python raises */
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(made, 0)) ||
                !PyDict_CheckExact(PyTuple_GET_ITEM(made, 1)))
            return 0;
        PyObject *piece = PyTuple_GET_ITEM(made, 0);
        int inserted = PyBytes_GET_SIZE(piece) > 0;
        Py_INCREF(made);  /* held while the lists and dicts below change */
        int failed = (*run < offset && queue_copy(out, *run, offset) < 0) ||
                     (inserted && PyList_Append(out, piece) < 0) ||
                     PyDict_Update(after, PyTuple_GET_ITEM(made, 1)) < 0 ||
                     PyList_SetSlice(inserts, 0, count, NULL) < 0;
        Py_DECREF(made);
        if (failed)
            return -1;
        *run = offset;
        if (inserted)
            *changed = 1;
        if ((next = insert_tag(inserts, 0)) < 0)
            return -1;
    }
    if (next == tag && (PyList_SetSlice(inserts, 0, 1, NULL) < 0 ||
                        (next = insert_tag(inserts, 0)) < 0))
        return -1;
    *first = next;
    return 1;
}

static int
vr_is(PyObject *vr, const char *name)
{
    return PyBytes_GET_SIZE(vr) == 2 && memcmp(PyBytes_AS_STRING(vr), name, 2) == 0;
}

/* The length of a text value ``raw`` once fast.decode has read it, when the value is plain
   ASCII text that decode reads as one string and writes back as the same bytes: printable
   ASCII with no backslash, at most one trailing space (the padding), of a VR read that way
   (not AE, UI or the numbers; a PN not ending in '=').  -1 when Python must read it. */
static Py_ssize_t
plain_text_length(PyObject *vr, const unsigned char *raw, Py_ssize_t length)
{
    static const char read_plainly[] = "ASCSDADTLOLTPNSHSTTMUCURUT";
    int known = 0;
    for (const char *at = read_plainly; *at && !known; at += 2)
        known = vr_is(vr, at);
    if (!known)
        return -1;
    for (Py_ssize_t i = 0; i < length; i++)
        if (raw[i] < 0x20 || raw[i] > 0x7E || raw[i] == '\\')
            return -1;
    Py_ssize_t text = length;
    while (text > 0 && raw[text - 1] == ' ')
        text--;
    if (length - text > 1 || (vr_is(vr, "PN") && text && raw[text - 1] == '='))
        return -1;
    return text;
}

/* A constant lane's outcome (see fast._lane) for a value not in the outcomes table: the
   constant's (bytes, value, ASCII text) that _Walk.constant_outcome put in ``constants``
   under (vr, codec, compat, implicit), ``*piece`` the bytes, or ``unchanged`` when the value
   is that text already.  A ``sequence`` (one the scan may pass, see plain_sequence) is
   emptied by the constant '' as _Walk.sequence does: unchanged when it is empty already.
   The entry, borrowed, or NULL when Python must transform it (with ``*error`` set on an
   exception). */
static PyObject *
constant_outcome(PyObject *constants, PyObject *vr, PyObject *codec, PyObject *compat,
                 PyObject *implicit, const unsigned char *raw, Py_ssize_t length,
                 int sequence, PyObject *unchanged, PyObject **piece, int *error)
{
    Py_ssize_t text_length = sequence ? length : plain_text_length(vr, raw, length);
    if (text_length < 0)
        return NULL;
    PyObject *entry = cached_tuple(
        constants, Py_BuildValue("(OOOO)", vr, codec, compat, implicit), 3, error);
    if (entry == NULL || !PyBytes_CheckExact(PyTuple_GET_ITEM(entry, 0)))
        return NULL;
    PyObject *text = PyTuple_GET_ITEM(entry, 2);
    if (sequence && !(PyBytes_CheckExact(text) && PyBytes_GET_SIZE(text) == 0))
        return NULL;  /* a sequence is emptied or refused, never given a value */
    int same = PyBytes_CheckExact(text) && PyBytes_GET_SIZE(text) == text_length &&
               memcmp(PyBytes_AS_STRING(text), raw, (size_t)text_length) == 0;
    *piece = same ? unchanged : PyTuple_GET_ITEM(entry, 0);
    return entry;
}

/* _Walk.in_lane for the top-level element ``tag`` (the tables' key for it; VR ``vr``, value
   at ``value_at``, ending at ``end``) when the plan removes it, when its outcome is in
   ``outcomes`` (the walk met that value before), or when its lane's constant decides it: as
   _Walk.drop or _Walk.emit.  Returns 2 when its bytes stay as they are (the run goes on over
   them), 1 when they were replaced or dropped (the run restarts after them), 0 when Python
   must transform it (nothing was changed here), -1 on an error. */
static int
in_lane(PyObject *lane, PyObject *tag, PyObject *vr, int sequence, const unsigned char *data,
        Py_ssize_t offset, Py_ssize_t value_at, Py_ssize_t end, Py_ssize_t *run, PyObject *out,
        PyObject *codec, PyObject *outcomes, PyObject *compat, PyObject *unchanged,
        PyObject *after, PyObject *removed, PyObject *implicit, int *changed)
{
    if (!PyTuple_CheckExact(lane) || PyTuple_GET_SIZE(lane) != 4)
        return 0;
    int removes = PyObject_IsTrue(PyTuple_GET_ITEM(lane, 1));
    PyObject *chain = PyTuple_GET_ITEM(lane, 2), *constants = PyTuple_GET_ITEM(lane, 3);
    if (removes < 0)
        return -1;
    PyObject *piece = NULL, *value = Py_None, *held_outcome = NULL;
    if (!removes) {
        if (chain == Py_None)
            return 0;
        int error = 0;
        /* (the walk keeps no outcome of a sequence: only its constant can decide one) */
        PyObject *outcome = sequence ? NULL : cached_tuple(
            outcomes, Py_BuildValue("(OOy#OOO)", tag, vr,
                                    (const char *)data + value_at, end - value_at, compat,
                                    codec, chain), 2, &error);
        if (outcome != NULL) {
            piece = PyTuple_GET_ITEM(outcome, 0);
            value = PyTuple_GET_ITEM(outcome, 1);
        }
        else if (!error && PyDict_CheckExact(constants)) {
            outcome = constant_outcome(constants, vr, codec, compat, implicit, data + value_at,
                                       end - value_at, sequence, unchanged, &piece, &error);
            if (outcome != NULL)
                value = PyTuple_GET_ITEM(outcome, 1);
        }
        if (outcome == NULL)
            return -error;
        if (piece != unchanged && piece != Py_None && !PyBytes_CheckExact(piece))
            return 0;
        held_outcome = Py_NewRef(outcome);  /* while the dicts and lists below change */
    }
    int result = -1;
    /* the value as the deid log and the file meta read it after (a list copied, as emit
       does) */
    PyObject *held = PyList_CheckExact(value) ? PyList_GetSlice(value, 0, PY_SSIZE_T_MAX)
                                              : Py_NewRef(value);
    int dropped = piece == NULL || piece == Py_None;  /* by the plan, or by its chain */
    if (held != NULL && PyDict_SetItem(after, tag, held) == 0) {
        if (piece == unchanged)
            result = 2;  /* its bytes stay in the run */
        else if ((!dropped || PySet_Add(removed, tag) == 0) &&
                 (*run >= offset || queue_copy(out, *run, offset) == 0) &&
                 (dropped || PyList_Append(out, piece) == 0)) {
            *run = end;
            *changed = 1;
            result = 1;
        }
    }
    Py_XDECREF(held);
    Py_XDECREF(held_outcome);
    return result;
}

/* Whether the scan may pass the sequence with this value: copied whole, as
   _Walk.copy_sequence does one the plan does not name, or done as its lane says.  The plan
   enters no sequence (``sequence_bytes``, else 0), it is a public top-level one of a defined,
   even length, too short to nest deeper than stream.check_depth allows (``sequence_bytes``),
   and in explicit VR it holds no "UN" bytes (stream.check_no_un_sequence). */
static int
plain_sequence(const unsigned char *data, Py_ssize_t value_at, Py_ssize_t end, int top,
               uint32_t group, int explicit, Py_ssize_t sequence_bytes)
{
    if (!top || group & 1 || (end - value_at) & 1 || end - value_at >= sequence_bytes)
        return 0;
    if (explicit)
        for (Py_ssize_t at = value_at; at + 1 < end; at++)
            if (data[at] == 'U' && data[at + 1] == 'N')
                return 0;
    return 1;
}

static PyObject *
skip_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 18) {
        PyErr_SetString(PyExc_TypeError, "skip_plain takes 18 arguments");
        return NULL;
    }
    PyObject *context = args[17];
    if (!PyList_Check(args[12]) || (args[14] != Py_None && !PyList_Check(args[14])) ||
            !PyTuple_CheckExact(context) || PyTuple_GET_SIZE(context) != 12) {
        PyErr_SetString(PyExc_TypeError, "out and inserts must be lists, context a 12-tuple");
        return NULL;
    }
    Py_ssize_t total = PyLong_AsSsize_t(PyTuple_GET_ITEM(context, 0));
    PyObject *runs = PyTuple_GET_ITEM(context, 1), *implicit = PyTuple_GET_ITEM(context, 2);
    PyObject *after = PyTuple_GET_ITEM(context, 3), *lanes = PyTuple_GET_ITEM(context, 4);
    PyObject *outcomes = PyTuple_GET_ITEM(context, 5), *compat = PyTuple_GET_ITEM(context, 6);
    PyObject *unchanged = PyTuple_GET_ITEM(context, 7), *removed = PyTuple_GET_ITEM(context, 8);
    PyObject *implicit_vrs = PyTuple_GET_ITEM(context, 9);
    PyObject *unknown_vr = PyTuple_GET_ITEM(context, 10);
    Py_ssize_t sequence_bytes = PyLong_AsSsize_t(PyTuple_GET_ITEM(context, 11));
    if (!PyDict_Check(runs) || !PyDict_Check(after) || !PyDict_Check(lanes) ||
            !PyDict_Check(outcomes) || !PySet_Check(removed) || !PyDict_Check(implicit_vrs)) {
        PyErr_SetString(PyExc_TypeError, "a context of the wrong types");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
    Py_ssize_t stop = PyLong_AsSsize_t(args[2]);
    long long previous = PyLong_AsLongLong(args[3]);
    long long next_stop = PyLong_AsLongLong(args[4]);
    PyObject *special = args[5];
    int odd_plain = PyObject_IsTrue(args[6]);
    PyObject *keep = args[7] == Py_None ? NULL : args[7];
    int top = PyObject_IsTrue(args[8]);
    int drop_private = PyObject_IsTrue(args[9]);
    PyObject *kept_groups = args[10];
    Py_ssize_t run = PyLong_AsSsize_t(args[11]);
    PyObject *out = args[12];
    PyObject *sequences = args[13] == Py_None ? NULL : args[13];
    PyObject *inserts = args[14] == Py_None ? NULL : args[14];
    PyObject *codec = args[15];
    int age_pending = PyObject_IsTrue(args[16]);
    int changed = 0;
    int found = 0;
    if (PyErr_Occurred())
        goto fail;
    const unsigned char *data = (const unsigned char *)view.buf;
    if (stop > view.len)
        stop = view.len;

    while (offset >= 0 && offset + 8 <= stop) {
        const unsigned char *p = data + offset;
        uint32_t group = p[0] | (uint32_t)p[1] << 8;
        uint32_t number = p[2] | (uint32_t)p[3] << 8;
        uint32_t tag = group << 16 | number;
        unsigned char v0 = p[4], v1 = p[5];
        uint32_t short_length = p[6] | (uint32_t)p[7] << 8;
        Py_ssize_t value_at, end;

        /* anything the walk reports, and sequences and group lengths, are for Python */
        if ((long long)tag <= previous || (group < 0x0008 && top) || group == 0xFFFE)
            break;
        if (number == 0 && group > 6)
            break;
        int sequence = 0;
        if (sequences != NULL) {
            /* implicit VR: a 4-byte length; undefined lengths are for Python */
            uint32_t length = v0 | (uint32_t)v1 << 8 | short_length << 16;
            if (length == UNDEFINED)
                break;
            if ((sequence = contains(sequences, tag)) < 0) {
                found = -1;
                break;
            }
            value_at = offset + 8;
            end = value_at + (Py_ssize_t)length;
        }
        else if (long_vr(v0, v1)) {
            if (offset + 12 > stop || short_length)
                break;
            uint32_t length = p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
                              (uint32_t)p[11] << 24;
            if (length == UNDEFINED)
                break;
            value_at = offset + 12;
            end = value_at + (Py_ssize_t)length;
            sequence = v0 == 'S' && v1 == 'Q';
        }
        else if (v0 >= 'A' && v0 <= 'Z' && v1 >= 'A' && v1 <= 'Z') {
            value_at = offset + 8;
            end = value_at + (Py_ssize_t)short_length;
        }
        else
            break;
        if (end > stop)
            break;
        /* UN that may be a sequence stored by a system that did not know it (empty, or
           starting with an item): stream.may_hold_items decides in Python */
        if (sequences == NULL && v0 == 'U' && v1 == 'N' && (end == offset + 12 ||
                (end >= offset + 16 && p[12] == 0xFE && p[13] == 0xFF && p[14] == 0x00 &&
                 p[15] == 0xE0)))
            break;
        if (sequence && !plain_sequence(data, value_at, end, top, group, sequences == NULL,
                                        sequence_bytes))
            break;
        int is_special = contains(special, tag);  /* a tag the plan or the log needs */
        if (is_special < 0) {
            found = -1;
            break;
        }
        int plain = !is_special && (odd_plain || !(group & 1));
        if (plain && keep != NULL) {
            if ((found = contains(keep, tag)) < 0)
                break;
            plain = found;
        }
        if ((long long)tag >= next_stop && (plain || is_special)) {
            /* the walk stops here to insert: before a plain element, or before one it looks
               at, what catch_up would write (the patient age and a new run are Python's) */
            if (inserts == NULL || (long long)tag == PATIENT_AGE ||
                    (age_pending && (long long)tag > PATIENT_AGE))
                break;
            long long first;
            if ((found = insert_before(tag, offset, &run, out, inserts, total, runs, implicit,
                                       codec, after, &changed, &first)) <= 0)
                break;
            next_stop = age_pending && PATIENT_AGE < first ? PATIENT_AGE : first;
        }
        if (is_special) {
            /* a top-level attribute of the plan's lanes (see FastPlan.lanes), of even length */
            if (!top || (end - value_at) & 1)
                break;
            PyObject *key = PyLong_FromUnsignedLong(tag);  /* the tables' key for the tag */
            PyObject *lane = key == NULL ? NULL : PyDict_GetItemWithError(lanes, key);
            PyObject *vr = NULL;  /* its VR as the walk has it: stored, or the plan's (else UN) */
            if (lane != NULL && sequences == NULL)
                vr = PyBytes_FromStringAndSize((const char *)p + 4, 2);
            else if (lane != NULL && ((vr = PyDict_GetItemWithError(implicit_vrs, key)) != NULL
                                      || !PyErr_Occurred()))
                vr = Py_NewRef(vr != NULL ? vr : unknown_vr);
            /* (a sequence here is one plain_sequence lets the scan pass) */
            int done = vr != NULL && PyBytes_CheckExact(vr) && vr_is(vr, "SQ") == sequence ?
                in_lane(lane, key, vr, sequence, data, offset, value_at, end, &run, out, codec,
                        outcomes, compat, unchanged, after, removed, implicit, &changed) : 0;
            Py_XDECREF(vr);
            Py_XDECREF(key);
            if (done <= 0) {
                found = PyErr_Occurred() ? -1 : 0;
                break;
            }
            previous = tag;
            offset = end;
            continue;
        }
        if (plain) {
            previous = tag;
            offset = end;
            continue;
        }
        if (!(group & 1) || !drop_private)
            break;
        if ((found = contains(kept_groups, group)) != 0)
            break;
        /* remove-private-tags and nothing kept in this group: drop it unseen */
        if (run < offset && queue_copy(out, run, offset) < 0) {
            found = -1;
            break;
        }
        previous = tag;
        offset = run = end;
        changed = 1;
    }
    if (found < 0)
        goto fail;
    PyBuffer_Release(&view);
    return Py_BuildValue("(nLnOL)", offset, previous, run, changed ? Py_True : Py_False,
                         next_stop);
fail:
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"skip_plain", (PyCFunction)(void (*)(void))skip_plain, METH_FASTCALL, skip_plain_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "deidc.execute._scan",
    "The fast path's header scan in C (an optional accelerator; fastpath.py has the reference).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModule_Create(&module);
}
