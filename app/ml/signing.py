"""Ed25519 signatures over an artifact's metadata.json, checked before anything is unpickled.

A SHA-256 stored beside the model proves nothing to a reader of that directory: whoever can
replace model.joblib can rewrite the checksum too (issue 9: a malicious pickle with a
recomputed checksum ran at startup and the service reported ready). metadata.json holds the
SHA-256 of model.joblib and model.onnx and everything the service trusts (class names,
features), so one signature over its exact bytes covers the whole artifact. The private key
stays with training (MODEL_SIGNING_KEY: a CI secret, or a local file for development); the
service holds only the public key (MODEL_PUBLIC_KEY), so the model directory cannot vouch
for itself.

Keys are base64 of the raw 32 bytes, one line each, so they fit environment variables,
Kubernetes Secrets and GitHub secrets unchanged:

    python -m app.ml.signing keygen     # prints MODEL_SIGNING_KEY=... and MODEL_PUBLIC_KEY=...
    python -m app.ml.signing dev-keys .keys/dev-signing.env   # once: `make run`'s local pair

The development pair lets a local run verify signatures like production does; its file is
git-ignored, readable by its owner only, and keeps a key set in the environment first.
"""

import base64
import binascii
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.core.keys import decode_key

SIGNATURE_FILE = "metadata.json.sig"


def private_key(encoded: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(decode_key(encoded, "MODEL_SIGNING_KEY"))


def public_key(encoded: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(decode_key(encoded, "MODEL_PUBLIC_KEY"))


def sign(metadata_bytes: bytes, signing_key: str) -> str:
    """The signature file's content: base64 of the Ed25519 signature, one line."""
    return base64.b64encode(private_key(signing_key).sign(metadata_bytes)).decode() + "\n"


def verify(metadata_bytes: bytes, signature_text: str, verify_key: str) -> bool:
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
        public_key(verify_key).verify(signature, metadata_bytes)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def keygen() -> tuple[str, str]:
    """(MODEL_SIGNING_KEY, MODEL_PUBLIC_KEY), base64 of the raw 32-byte keys."""
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def write_dev_keys(path: Path) -> bool:
    """Create a development key pair as a shell fragment once; False when it exists."""
    if path.exists():
        return False
    signing, public = keygen()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "# Development signing keys made by `make run` (git-ignored). Production keys are\n"
            "# CI secrets (MODEL_SIGNING_KEY) and chart values (config.modelPublicKey).\n"
            f"MODEL_SIGNING_KEY=${{MODEL_SIGNING_KEY:-{signing}}}\n"
            f"MODEL_PUBLIC_KEY=${{MODEL_PUBLIC_KEY:-{public}}}\n"
        )
    return True


if __name__ == "__main__":
    if sys.argv[1:] == ["keygen"]:
        signing, public = keygen()
        print(f"MODEL_SIGNING_KEY={signing}")
        print(f"MODEL_PUBLIC_KEY={public}")
    elif len(sys.argv) == 3 and sys.argv[1] == "dev-keys":
        if write_dev_keys(Path(sys.argv[2])):
            print(f"made a development key pair in {sys.argv[2]}: local models are signed")
    else:
        sys.exit("usage: python -m app.ml.signing keygen | dev-keys FILE")
