"""SecretBox: Fernet with an HKDF-SHA256 key derived from TANDEM_SECRET_KEY."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plugin.crypto import HKDF_INFO, SecretBox
from plugin.errors import SecretError, ValidationError

MESSAGE = "cannot decrypt: TANDEM_SECRET_KEY changed or the value was tampered with"


def test_round_trip_and_fresh_iv() -> None:
    box = SecretBox("s3cret")
    a, b = box.encrypt("päss wörd"), box.encrypt("päss wörd")
    assert a != b
    assert "päss" not in a
    assert box.decrypt(a) == box.decrypt(b) == "päss wörd"


def test_same_secret_key_decrypts_on_another_host() -> None:
    assert SecretBox("k").decrypt(SecretBox("k").encrypt("x")) == "x"


def test_key_is_hkdf_sha256_with_fixed_info() -> None:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(b"k")
    token = Fernet(base64.urlsafe_b64encode(derived)).encrypt(b"x").decode()
    assert HKDF_INFO == b"tandem-secrets-v1"
    assert SecretBox("k").decrypt(token) == "x"


def test_wrong_key_is_a_clear_error() -> None:
    token = SecretBox("old").encrypt("x")
    with pytest.raises(SecretError) as info:
        SecretBox("new").decrypt(token)
    assert info.value.message == MESSAGE


@pytest.mark.parametrize("mangle", [lambda t: t[:-4] + "AAAA", lambda t: "not a token", str.upper])
def test_tampered_or_garbage_token(mangle) -> None:  # type: ignore[no-untyped-def]
    box = SecretBox("k")
    with pytest.raises(SecretError, match="tampered"):
        box.decrypt(mangle(box.encrypt("secret value")))


def test_non_ascii_token_is_refused() -> None:
    with pytest.raises(SecretError):
        SecretBox("k").decrypt("tökén")


def test_empty_secret_key_refused() -> None:
    with pytest.raises(ValidationError, match="TANDEM_SECRET_KEY"):
        SecretBox("")


def test_repr_hides_the_key() -> None:
    assert "s3cret" not in repr(SecretBox("s3cret"))
