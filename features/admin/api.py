"""The admin slice's api: backups and restore, for the shell's CLI."""

from features.admin.backup_files import BackupProblem, Manifest
from features.admin.backups import BackupResult, take_backup
from features.admin.restore import RestoreResult, restore_backup

__all__ = ["BackupProblem", "BackupResult", "Manifest", "RestoreResult", "restore_backup", "take_backup"]
