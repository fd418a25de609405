"""Two plans → what changed in effect, for review: ``deidc diff``.

Reads compiled plans, never profile text, so that reordering rules, writing a tag for a keyword,
comments, ``name`` and ``description`` are no change, and a deleted rule among three hundred is.
"""
