"""Privacy on the frame path: redaction, masks, backgrounds, media checks.

The data lifecycle (retention, deletion, the privacy report and notice) is
:mod:`storelens.lifecycle`; the aggregate-only event filter, derived from the payload models'
marks, is :mod:`storelens.events.aggregate_only`.
"""
