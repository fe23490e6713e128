"""Compliance: personal data in the text the pipeline produces and unsafe content in its images.

Plain modules over functions/common only (the scan step and store call them): `findings` (the
staged document and its counts), `settings` (the scan step's environment), `pii` (chunk texts in
windows through the pii model role), `moderation` (images and keyframes through the moderation
role), `storage` (the rows, in the store transaction).
"""
