"""Private signing keys on disk: one PEM file per key, mode 0600, in a 0700 folder.

The database records which keys exist and their role (next, current, retiring, retired); the
files hold the secrets. A file is written and synced before its database row commits, so a crash
can leave at most an unused file, never a row without its key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from registry_node.core.errors import ConfigError
from registry_node.core.keys import SigningKey, load_private_pem


class KeyStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = stat.S_IMODE(self.folder.stat().st_mode)
        if mode & 0o077:
            os.chmod(self.folder, 0o700)

    def path_for(self, kid: str) -> Path:
        return self.folder / f"{kid}.pem"

    def save(self, key: SigningKey) -> Path:
        """Write the private key to a new file readable by the owner only, durably."""
        self.ensure_folder()
        path = self.path_for(key.kid)
        tmp = path.with_suffix(".pem.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, key.private_pem())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return path

    def load(self, file: str, alg: str, kid: str) -> SigningKey:
        """Load a key; refuse a file that others can read (fail closed)."""
        path = Path(file)
        if not path.is_absolute():
            path = self.folder / path
        try:
            info = path.stat()
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{path}: signing key {kid} is missing",
                code="key_missing",
            ) from exc
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise ConfigError(
                f"{path}: key file is readable by group or others",
                code="key_permissions",
                hint=f"run: chmod 600 {path}",
            )
        key = load_private_pem(path.read_bytes(), alg)
        if key.kid != kid:
            raise ConfigError(f"{path}: holds key {key.kid}, expected {kid}", code="key_mismatch")
        return key
