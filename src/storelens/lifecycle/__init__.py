"""The data lifecycle: how long each kind of data is kept (retention), erasing it on request
(deletion), and saying what is collected, kept, shown and sent (the privacy report and the public
notice built from it).

Split from :mod:`storelens.privacy`, which is the frame path (redaction, masks, media): the
lifecycle writes audit records and purges encrypted snapshots, so it sits above
:mod:`storelens.security`, while the frame path needs nothing of it.
"""
