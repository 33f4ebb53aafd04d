"""Pillow plugin registration, done once: pillow-heif adds HEIC read and write."""
import functools


@functools.lru_cache(maxsize=1)
def register():
    try:
        import pillow_heif
    except ImportError:  # HEIC then simply is not in capabilities()
        return False
    pillow_heif.register_heif_opener()
    return True
