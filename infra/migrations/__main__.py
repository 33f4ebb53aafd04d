"""python -m infra.migrations upgrade|downgrade [SCHEMA] REV|current|heads|revision SCHEMA MSG

Against config.yaml's databases (DB_URIS; CONVERTIX_CONFIG names another file).
`make migrate` runs `upgrade`; `make revision` runs `revision`.
"""
import sys
import warnings

# nameko (imported for its config loader) imports eventlet, which warns that
# it is deprecated: noise in a command's output
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
warnings.filterwarnings("ignore", category=DeprecationWarning)

from infra import migrations  # noqa: E402
from infra.migrations.revision import new_revision  # noqa: E402


def main(argv):
    match argv:
        case ["upgrade"] | ["upgrade", _]:
            migrations.upgrade(revision=argv[1] if len(argv) > 1 else "head")
            print("migrated:", _show(migrations.current()))
        case ["downgrade", revision]:
            migrations.downgrade(revision=revision)
            print("now:", _show(migrations.current()))
        case ["downgrade", service, revision] if service in migrations.SCHEMAS:
            migrations.downgrade({service: migrations.database_urls()[service]}, revision)
            print("now:", _show(migrations.current()))
        case ["current"]:
            print(_show(migrations.current()))
        case ["heads"]:
            print(_show(migrations.head()))
        case ["revision", service, message]:
            print("wrote", new_revision(service, message))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


def _show(revisions):
    return ", ".join(f"{service} {rev or '(none)'}" for service, rev in revisions.items())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
