"""The format tables clients read from GET /formats (file endings, media
types): every format the core names has its endings, and no ending is claimed
twice."""
from convertix.imaging.formats import (
    FILE_EXTENSIONS,
    MAGICK_CODERS,
    OUTPUT_MEDIA_TYPES,
    OUTPUT_TYPES,
    PILLOW_FORMATS,
    extension,
    file_types,
)


def test_every_readable_or_writable_format_has_its_endings():
    named = set(PILLOW_FORMATS) | set(MAGICK_CODERS) | set(OUTPUT_MEDIA_TYPES) | {"svg"}
    assert not named - set(FILE_EXTENSIONS), named - set(FILE_EXTENSIONS)


def test_no_ending_names_two_formats_and_endings_are_plain():
    owners = {}
    for fmt, endings in FILE_EXTENSIONS.items():
        for ending in endings:
            assert ending == ending.lower() and "." not in ending, (fmt, ending)
            assert owners.setdefault(ending, fmt) == fmt, (ending, owners[ending], fmt)


def test_results_are_named_with_the_first_ending():
    for fmt in OUTPUT_TYPES:
        assert extension(fmt) == FILE_EXTENSIONS[fmt][0]
    assert (extension("jpeg"), extension("tiff"), extension("nothing")) == ("jpg", "tif", "bin")


def test_file_types_lists_endings_and_media_types_of_the_named_formats():
    served = file_types({"jpeg", "pgm", "ico"})
    assert served["extensions"] == {"ico": ["ico"], "jpeg": ["jpg", "jpeg", "jpe", "jfif"],
                                    "pgm": ["pgm"]}
    assert served["media_types"]["jpeg"] == ["image/jpeg"]
    assert set(served["media_types"]["ico"]) == {"image/vnd.microsoft.icon", "image/x-icon"}
    assert served["media_types"]["pgm"] == ["image/x-portable-greymap"]
    assert file_types({"eps"})["extensions"] == {"eps": ["eps"]}  # no table entry: its own name
