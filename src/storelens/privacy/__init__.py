"""Privacy: redaction on the frame path."""
