"""Secrets at rest: tool private keys now, HRIS connection credentials later (DESIGN §5).

One key, derived from ``TANDEM_SECRET_KEY`` with HKDF-SHA256 and a fixed context string,
encrypts every secret as a Fernet token (AES-128-CBC + HMAC-SHA256, with a timestamp).
A wrong key and a tampered token fail the same way, with :class:`plugin.errors.SecretError`.
Neither the secret key, nor the derived key, nor any plaintext ever appears in a message,
a ``repr`` or a log line.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plugin.errors import N_, SecretError, ValidationError

__all__ = ["HKDF_INFO", "SecretBox"]

#: The HKDF context of the secrets key; a new version means a new key (and re-encryption).
HKDF_INFO = b"tandem-secrets-v1"

DECRYPT_FAILED = N_("cannot decrypt: TANDEM_SECRET_KEY changed or the value was tampered with")


class SecretBox:
    """Encrypts and decrypts short secrets with a key derived from the app's secret key.

    Example::

        box = SecretBox(app.config["SECRET_KEY"])
        token = box.encrypt(private_pem)   # store the token
        box.decrypt(token) == private_pem
    """

    __slots__ = ("_fernet",)

    def __init__(self, secret_key: str) -> None:
        """Derive the encryption key.

        Args:
            secret_key: ``TANDEM_SECRET_KEY``; any non-empty string (use ≥ 32 random bytes).

        Raises:
            ValidationError: The secret key is empty.
        """
        if not secret_key:
            raise ValidationError(N_("the secret key must not be empty (TANDEM_SECRET_KEY)"))
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; a new random IV each time, so equal inputs differ.

        Returns:
            A URL-safe ASCII token to store.
        """
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made by :meth:`encrypt` with the same secret key.

        Raises:
            SecretError: The token was made with another key, or altered, or is no token.
        """
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretError(DECRYPT_FAILED) from None
