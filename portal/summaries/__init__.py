"""Lay summaries of results and the other evidence for the results duties (issue 6).

``views`` holds the blueprint and ``forms`` its forms. The pure functions of an upload's bytes
and text (``extract``, ``readability``, ``checklist``) are in ``portal.domain.summaries``, used by
``portal.services.summaries``.
"""
