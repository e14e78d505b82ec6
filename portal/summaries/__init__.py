"""Lay summaries of results and the other evidence for the results duties (issue 6).

``views`` holds the blueprint; ``extract``, ``readability`` and ``checklist`` are pure functions
of an upload's bytes and text, used by ``portal.services.summaries``.
"""
