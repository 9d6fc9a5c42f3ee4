"""The format of the model signing keys: base64 of 32 raw bytes, one line.

Here, below both, so Settings can refuse a malformed MODEL_PUBLIC_KEY at startup without
importing the signing code (app/ml/signing.py), which builds the Ed25519 keys from this.
"""

import base64
import binascii

KEY_BYTES = 32


class InvalidKeyError(ValueError):
    """A key that is not base64 of 32 bytes."""


def decode_key(encoded: str, what: str) -> bytes:
    """The raw key bytes; `what` names the setting in the error."""
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidKeyError(f"{what} is not base64") from exc
    if len(raw) != KEY_BYTES:
        raise InvalidKeyError(f"{what} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw
