"""Tests for ui/imaging/payload.py: every image is made in code, in pytest's tmp_path."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFile, ImageOps

from ui.errors import InputError
from ui.imaging import formats, memory, pixels
from ui.imaging import payload as images
from ui.imaging.payload import ImageError, PreparedImage, prepare

MB = 1024 * 1024
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    images.clear_cache()


def save(path: Path, im: Image.Image, fmt: str | None = None, **options: object) -> Path:
    im.save(path, fmt, **options)
    return path


def decoded(prepared: PreparedImage) -> Image.Image:
    im = Image.open(io.BytesIO(prepared.data))
    im.load()
    return im


def close(a: tuple[int, ...] | float, b: tuple[int, ...], tolerance: int = 12) -> bool:
    a = a if isinstance(a, tuple) else (int(a),)
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid all-black 1-bit PNG of any declared size, kilobytes on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * min(256, height - i)) for i in range(0, height, 256))
    idat += z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


# --- modes -------------------------------------------------------------------------------------


def test_rgba_png_is_flattened_on_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (20, 0, 40, 20))
    result = prepare(save(tmp_path / "a.png", im))
    out = decoded(result)
    assert result.mime == "image/png" and out.mode == "RGB"
    assert out.getpixel((5, 5)) == WHITE and out.getpixel((30, 5)) == RED
    assert result.notes == ("flattened",)


def test_la_png_is_flattened_on_white_and_stays_grey(tmp_path: Path) -> None:
    im = Image.new("LA", (40, 20), (0, 0))
    im.paste((60, 255), (20, 0, 40, 20))
    out = decoded(prepare(save(tmp_path / "la.png", im)))
    assert out.mode == "L"
    assert out.getpixel((5, 5)) == 255 and out.getpixel((30, 5)) == 60


def test_palette_with_transparency_becomes_white_not_black(tmp_path: Path) -> None:
    im = Image.new("P", (40, 20), 0)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 black, index 1 blue
    im.paste(1, (20, 0, 40, 20))
    im.info["transparency"] = 0
    result = prepare(save(tmp_path / "p.png", im, transparency=0))
    out = decoded(result)
    assert out.getpixel((5, 5)) == WHITE and out.getpixel((30, 5)) == BLUE
    assert result.notes == ("flattened",)


def test_palette_gif_without_transparency_is_sent_as_png(tmp_path: Path) -> None:
    im = Image.new("RGB", (30, 30), GREEN).convert("P")
    result = prepare(save(tmp_path / "g.gif", im))
    assert result.mime == "image/png" and result.original_format == "GIF"
    assert decoded(result).convert("RGB").getpixel((3, 3)) == GREEN


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path) -> None:
    im = Image.new("CMYK", (32, 32), (255, 0, 0, 0))  # pure cyan ink
    result = prepare(save(tmp_path / "c.jpg", im, quality=95))
    out = decoded(result)
    assert result.mime == "image/jpeg" and out.mode == "RGB"
    assert close(out.getpixel((16, 16)), (0, 255, 255))
    assert "converted" in result.notes


def test_16_bit_png_gradient_is_scaled_not_clipped(tmp_path: Path) -> None:
    # Left to right 0..32704 in steps of 64: the dark half of the 16-bit range, 512 levels.
    values = [x * 64 for x in range(512)] * 8
    sixteen = Image.frombytes("I;16", (512, 8), struct.pack(f"<{len(values)}H", *values))
    path = save(tmp_path / "deep.png", sixteen)
    assert Image.open(path).mode == "I;16"
    result = prepare(path)
    out = decoded(result)
    assert out.mode == "L" and result.notes == ("depth_reduced",)
    row = [out.getpixel((x, 4)) for x in range(out.width)]
    assert row == sorted(row)  # still a gradient...
    assert len(set(row)) >= 120  # ...keeping its levels...
    assert row[0] <= 1 and 125 <= row[-1] <= 128  # ...at the brightness a viewer shows


def test_one_bit_png_becomes_grey(tmp_path: Path) -> None:
    im = Image.new("1", (16, 16), 0)
    im.paste(1, (8, 0, 16, 16))
    out = decoded(prepare(save(tmp_path / "bw.png", im)))
    assert out.mode == "L" and out.getpixel((2, 2)) == 0 and out.getpixel((12, 2)) == 255


@pytest.mark.parametrize("mode", ["L", "P"])
def test_small_grey_or_palette_png_is_sent_byte_identical(tmp_path: Path, mode: str) -> None:
    path = save(tmp_path / "l.png", Image.linear_gradient("L").resize((64, 64)).convert(mode))
    result = prepare(path)
    assert result.data == path.read_bytes() and result.notes == ()


# --- orientation ---------------------------------------------------------------------------------


def marked_jpeg(path: Path, orientation: int) -> Path:
    """60×40 grey JPEG, red in the stored top-left corner, with an EXIF orientation tag."""
    im = Image.new("RGB", (60, 40), (128, 128, 128))
    im.paste(RED, (0, 0, 12, 12))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(path, im, quality=95, exif=exif.tobytes())


def red_corner(im: Image.Image) -> str:
    w, h = im.size
    corners = {"top-left": (3, 3), "top-right": (w - 4, 3)}
    corners |= {"bottom-left": (3, h - 4), "bottom-right": (w - 4, h - 4)}
    return next(name for name, xy in corners.items() if close(im.getpixel(xy), RED, 40))


@pytest.mark.parametrize(
    ("orientation", "corner"), [(3, "bottom-right"), (6, "top-right"), (8, "bottom-left")]
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, corner: str) -> None:
    result = prepare(marked_jpeg(tmp_path / f"o{orientation}.jpg", orientation))
    out = decoded(result)
    expected = (60, 40) if orientation == 3 else (40, 60)
    assert result.sent_size == result.original_size == out.size == expected
    assert red_corner(out) == corner
    assert "rotated" in result.notes
    assert out.getexif().get(0x0112, 1) == 1  # no viewer may rotate it a second time


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_orientation_matches_pillows_exif_transpose(tmp_path: Path, orientation: int) -> None:
    path = marked_jpeg(tmp_path / f"o{orientation}.jpg", orientation)
    reference = ImageOps.exif_transpose(Image.open(path))
    out = decoded(prepare(path))
    assert out.size == reference.size and red_corner(out) == red_corner(reference)


def test_large_rotated_jpeg_is_shrunk_before_rotating_with_the_right_shape(tmp_path: Path) -> None:
    im = Image.new("RGB", (4000, 3000), (128, 128, 128))
    im.paste(RED, (0, 0, 400, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    result = prepare(save(tmp_path / "big6.jpg", im, quality=90, exif=exif.tobytes()))
    out = decoded(result)
    assert result.original_size == (3000, 4000)
    assert out.size == result.sent_size and out.height > out.width
    assert 0.9 * 2048 <= out.height <= 2048
    assert red_corner(out) == "top-right"
    assert {"rotated", "downscaled"} <= set(result.notes)


# --- animation, size, bytes ----------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "fmt"), [("gif", "GIF"), ("png", "PNG"), ("webp", "WEBP")])
def test_animation_sends_the_first_frame(tmp_path: Path, suffix: str, fmt: str) -> None:
    frames = [Image.new("RGB", (24, 24), c) for c in (RED, GREEN, BLUE)]
    path = tmp_path / f"anim.{suffix}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = prepare(path)
    assert close(decoded(result).convert("RGB").getpixel((12, 12)), RED, 20)
    assert "first_frame" in result.notes


@pytest.mark.parametrize(("quality", "long_side"), [("fast", 1024), ("balanced", 3072), ("max", 6000)])
def test_6001_px_graphic_is_downscaled_to_the_preset(tmp_path: Path, quality: str, long_side: int) -> None:
    im = Image.new("RGB", (6001, 100), WHITE)
    im.paste(BLUE, (0, 0, 3000, 100))
    result = prepare(save(tmp_path / "wide.png", im), quality)
    assert result.sent_size[0] == long_side == decoded(result).width
    assert "downscaled" in result.notes


def test_6001_px_jpeg_at_max_quality_fits_6000(tmp_path: Path) -> None:
    result = prepare(save(tmp_path / "wide.jpg", Image.new("RGB", (6001, 100), BLUE)), "max")
    assert max(result.sent_size) == 6000


@pytest.mark.parametrize(("quality", "low", "high"), [("fast", 900, 1024), ("balanced", 1843, 2048)])
def test_photo_long_side_follows_the_preset(tmp_path: Path, quality: str, low: int, high: int) -> None:
    photo = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    result = prepare(save(tmp_path / "photo.jpg", photo, quality=90), quality)
    assert low <= max(result.sent_size) <= high and result.mime == "image/jpeg"


def test_noisy_png_over_5_mb_is_recompressed_not_rejected(tmp_path: Path) -> None:
    noise = Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    path = save(tmp_path / "noise.png", noise)
    assert path.stat().st_size > 5 * MB
    result = prepare(path)
    assert len(result.data) <= 5 * MB and result.mime == "image/jpeg"
    assert decoded(result).size == result.sent_size


def test_tight_byte_limit_steps_quality_then_size_down(tmp_path: Path) -> None:
    noise = Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3))
    result = prepare(save(tmp_path / "noise.png", noise), max_bytes=100_000)
    assert len(result.data) <= 100_000
    assert {"as_jpeg", "downscaled", "size_limit"} <= set(result.notes)


def test_a_plain_png_sent_as_jpeg_is_said_to_be_re_encoded_not_colour_converted(tmp_path: Path) -> None:
    noise = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    path = save(tmp_path / "noise.png", noise)
    result = prepare(path, max_bytes=path.stat().st_size - 1)  # too big to send as it is
    assert result.mime == "image/jpeg" and result.notes == ("as_jpeg",)


def test_a_palette_gif_sent_as_png_keeps_its_colours_and_says_so(tmp_path: Path) -> None:
    im = Image.new("RGB", (30, 30), GREEN).convert("P")
    assert prepare(save(tmp_path / "g.gif", im)).notes == ("as_png",)


def test_small_jpeg_passes_through_byte_identical(tmp_path: Path) -> None:
    path = save(tmp_path / "small.jpg", Image.new("RGB", (200, 150), GREEN), quality=80)
    result = prepare(path)
    assert result.data == path.read_bytes()
    assert result.notes == () and result.mime == "image/jpeg" and result.sent_size == (200, 150)


def gps_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (31.0, 14.0, 9.0), "E", (121.0, 28.0, 4.0)
    return exif.tobytes()


def test_untouched_jpeg_loses_location_and_camera_data_but_not_a_pixel(tmp_path: Path) -> None:
    im = Image.linear_gradient("L").resize((320, 200)).convert("RGB")
    icc = b"\0" * 128 + b"test-icc"  # opaque to Pillow: it only has to survive
    path = save(tmp_path / "geo.jpg", im, quality=90, exif=gps_exif(), icc_profile=icc,
                comment=b"keep me")
    result = prepare(path)
    out = decoded(result)
    assert b"PhoneMaker" not in result.data and len(out.getexif()) == 0  # no GPS, no camera
    assert out.info.get("icc_profile") == icc and out.info.get("comment") == b"keep me"
    original = Image.open(path)
    assert out.tobytes() == original.tobytes()  # the same compressed pixels, not re-encoded
    assert result.notes == ("metadata_removed",) and result.sent_size == (320, 200)


def test_untouched_png_loses_its_exif_and_text_chunks(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Someone")
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPSLatitude 31,14N</x:xmpmeta>")
    im = Image.linear_gradient("L").resize((64, 64))
    path = save(tmp_path / "shot.png", im, exif=gps_exif(), pnginfo=text)
    result = prepare(path)
    out = decoded(result)
    assert b"Someone" not in result.data and b"GPSLatitude" not in result.data
    assert b"PhoneMaker" not in result.data and len(out.getexif()) == 0
    assert out.tobytes() == im.tobytes() and result.notes == ("metadata_removed",)


def test_reencoded_photos_carry_no_location_either(tmp_path: Path) -> None:
    path = save(tmp_path / "big.jpg", Image.new("RGB", (3000, 2000), GREEN), quality=90,
                exif=gps_exif())
    result = prepare(path)
    assert "downscaled" in result.notes and b"PhoneMaker" not in result.data
    assert len(decoded(result).getexif()) == 0


def test_input_file_is_unchanged_on_disk(tmp_path: Path) -> None:
    path = marked_jpeg(tmp_path / "keep.jpg", 6)
    before, stat = hashlib.sha256(path.read_bytes()).digest(), path.stat()
    prepare(path)
    assert hashlib.sha256(path.read_bytes()).digest() == before
    assert path.stat().st_mtime_ns == stat.st_mtime_ns


# --- files we refuse -----------------------------------------------------------------------------


def refused(path: Path, **kwargs: int) -> ImageError:
    with pytest.raises(ImageError) as caught:
        prepare(path, **kwargs)
    assert path.name in str(caught.value) and str(caught.value).endswith(".")
    return caught.value


@pytest.mark.parametrize(
    ("content", "key"),
    [
        (b"", "image_empty"),
        (b"just some notes, not a picture\n", "image_unreadable"),
        (b"<!DOCTYPE html><html><body><img src=x.png></body></html>", "image_unreadable"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "image_svg"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image_svg"),
    ],
)
def test_non_images_are_refused_with_their_own_key(tmp_path: Path, content: bytes, key: str) -> None:
    path = tmp_path / "upload.png"
    path.write_bytes(content)
    error = refused(path)
    assert error.key == key and error.params == {"name": "upload.png"}


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_truncated_image_is_refused(tmp_path: Path, suffix: str) -> None:
    # Small enough to be sent as is: verification must still read every byte.
    noise = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))
    whole = save(tmp_path / f"whole.{suffix}", noise).read_bytes()
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    assert refused(path).key == "image_truncated"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path / "gone.png").key == "image_missing"


def test_decompression_bomb_is_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = png_header_only(tmp_path / "bomb.png", 30000, 30000)
    assert path.stat().st_size < 200_000

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    error = refused(path)
    assert error.key == "image_too_large" and error.params["limit_mp"] == 100


def test_pixel_limit_is_ours_and_pillows_warning_does_not_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100.02 MP: over our 100 MP limit, under Pillow's error threshold (it would only warn).
    path = png_header_only(tmp_path / "big.png", 10001, 10001)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert refused(path).key == "image_too_large"
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's global limit is left alone


def test_max_pixels_is_configurable(tmp_path: Path) -> None:
    path = save(tmp_path / "mid.png", Image.new("RGB", (200, 200), RED))
    assert refused(path, max_pixels=10_000).params["limit_mp"] == 0.01


def heif_writable() -> bool:
    try:
        Image.new("RGB", (8, 8)).save(io.BytesIO(), "HEIF")
    except (KeyError, OSError, ValueError):
        return False
    return True


@pytest.mark.skipif(not heif_writable(), reason="pillow_heif missing or built without an encoder")
def test_heic_photo_is_converted_to_jpeg(tmp_path: Path) -> None:
    result = prepare(save(tmp_path / "IMG_0001.HEIC", Image.new("RGB", (64, 48), RED), "HEIF"))
    assert result.original_format == "HEIF" and result.mime == "image/jpeg"
    assert close(decoded(result).getpixel((32, 24)), RED, 20) and result.notes == ("as_jpeg",)


def test_heic_without_pillow_heif_gets_its_own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A HEIC header Pillow cannot decode, as every HEIC looks without pillow_heif registered.
    monkeypatch.setattr(formats, "HEIF_SUPPORTED", False)
    path = tmp_path / "IMG_0002.HEIC"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64)
    assert refused(path).key == "image_heic_unsupported"


def test_image_error_reads_as_english_and_carries_key_and_params() -> None:
    error = ImageError("image_too_large", name="x.png", limit_mp=100.0)
    assert str(error) == ("“x.png” has more than 100 megapixels, too many to open safely: "
                          "remove it or send a smaller version.")
    assert isinstance(error, InputError)  # one error tree: the page catches it as a ChatError
    assert error.key == "image_too_large" and error.params == {"name": "x.png", "limit_mp": 100.0}


def test_unknown_quality_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quality"):
        prepare(tmp_path / "any.png", "ultra")


# --- payload and cache ---------------------------------------------------------------------------


def test_data_url_and_b64_decode_back_to_an_image_of_sent_size(tmp_path: Path) -> None:
    result = prepare(marked_jpeg(tmp_path / "r.jpg", 8))
    prefix, payload = result.data_url().split(",", 1)
    assert prefix == "data:image/jpeg;base64" and payload == result.b64()
    again = Image.open(io.BytesIO(base64.b64decode(result.b64(), validate=True)))
    assert again.size == result.sent_size and again.format == "JPEG"
    assert "data=" not in repr(result)  # a log line never dumps the payload


def test_token_estimate_counts_28_px_patches(tmp_path: Path) -> None:
    result = prepare(save(tmp_path / "t.png", Image.new("RGB", (57, 28), RED)))
    assert result.est_tokens == 3 * 1


def counting_open(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    real: Callable[..., Image.Image] = Image.open

    def spy(*args: object, **kwargs: object) -> Image.Image:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(images.Image, "open", spy)
    return calls


def test_second_prepare_of_the_same_file_is_a_cache_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_open(monkeypatch)
    path = marked_jpeg(tmp_path / "c.jpg", 6)
    first = prepare(path)
    assert prepare(str(path)) is first and len(calls) == 1
    assert prepare(path, "fast") is not first and len(calls) == 2  # other settings: other entry


def test_a_changed_file_is_prepared_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_open(monkeypatch)
    path = save(tmp_path / "c.png", Image.new("RGB", (20, 20), RED))
    first = prepare(path)
    save(path, Image.new("RGB", (30, 20), BLUE))
    second = prepare(path)
    assert second is not first and second.sent_size == (30, 20) and len(calls) == 2


def test_cache_is_bounded_by_count_and_bytes() -> None:
    cache = memory.Cache(max_entries=2, max_bytes=100)
    item = PreparedImage(b"x" * 40, "image/png", (1, 1), (1, 1), 40, "PNG", ())
    for key in "abc":
        cache.put((key,), item)
    assert cache.get(("a",)) is None and cache.get(("c",)) is item
    cache.put(("big",), PreparedImage(b"x" * 101, "image/png", (1, 1), (1, 1), 1, "PNG", ()))
    assert cache.get(("big",)) is None
    cache.put(("d",), item)
    cache.put(("e",), item)  # 3 × 40 bytes would pass 100: the oldest goes
    assert cache.total <= 100


def test_concurrent_prepares_agree(tmp_path: Path) -> None:
    path = marked_jpeg(tmp_path / "t.jpg", 6)
    results: list[PreparedImage] = []
    threads = [threading.Thread(target=lambda: results.append(prepare(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.data for r in results}) == 1 and len(results) == 8



@pytest.mark.parametrize("memfd", [True, False])
def test_encoding_through_a_memory_file_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memfd: bool
) -> None:
    # On Linux the encoder writes into an anonymous memory file (it then leaves the GIL, so other
    # visitors' streams do not stall); elsewhere into a BytesIO. Both must give the same payload.
    if memfd and not hasattr(os, "memfd_create"):
        pytest.skip("no memfd on this system")
    monkeypatch.setattr(pixels, "_MEMFD", memfd)
    noise = Image.effect_noise((1200, 900), 60).convert("RGB")
    for fmt, options in (("JPEG", {"quality": 85, "subsampling": 2}), ("PNG", {"compress_level": 3})):
        reference = io.BytesIO()
        noise.save(reference, fmt, **options)
        assert pixels.save(noise, fmt, **options) == reference.getvalue()
    if memfd:  # a sandbox that forbids memfd_create: the bytes go through a BytesIO instead
        def forbidden(*_: object) -> int:
            raise PermissionError("memfd_create: operation not permitted")

        monkeypatch.setattr(os, "memfd_create", forbidden)
        assert pixels.save(noise, "JPEG", quality=85) and pixels._MEMFD is False
    photo = save(tmp_path / "p.jpg", noise.resize((3600, 2700)), quality=95)
    prepared = prepare(photo)
    assert prepared.mime == "image/jpeg" and prepared.sent_size == (2048, 1536)
    assert decoded(prepared).size == (2048, 1536)


def test_a_file_being_prepared_is_not_prepared_again_by_a_second_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attached (prepared in the background) and asked about at once: the question waits for that
    # preparation instead of doing the same work a second time.
    path = marked_jpeg(tmp_path / "t.jpg", 6)
    waiting = threading.Event()

    class Pending(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waiting.set()
            return super().wait(timeout)

    calls = []
    real = images._prepare

    def slow(*args: object) -> PreparedImage:
        calls.append(args)
        waiting.wait(timeout=20)  # until the second caller waits for this one
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(images, "threading", type("T", (), {"Event": Pending}))
    monkeypatch.setattr(images, "_prepare", slow)
    results: list[PreparedImage] = []
    first = threading.Thread(target=lambda: results.append(prepare(path)))
    first.start()
    results.append(prepare(path))
    first.join()
    assert len(calls) == 1 and results[0] is results[1]


def test_a_photo_is_decoded_in_one_call_not_per_64_kb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The decoder leaves the GIL while it works; each time it comes back for more data it must win
    # the GIL again from a busy event loop (~5 ms each). So the whole file goes in at once.
    path = save(tmp_path / "p.jpg", Image.effect_noise((2400, 1800), 80).convert("RGB"), quality=95)
    assert path.stat().st_size > 4 * 64 * 1024
    reads: list[int] = []

    class Counted(io.FileIO):
        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            return super().read(size)

    monkeypatch.setattr(images, "open", lambda p, mode: Counted(p, mode.replace("b", "")), raising=False)
    assert prepare(path).sent_size == (2048, 1536)
    blocks = [size for size in reads if size >= 64 * 1024]  # small ones: Pillow parsing the header
    assert len(blocks) == 1, blocks  # the whole file at once, not ~20 blocks of 64 KB


def idat_chunks(data: bytes) -> int:
    count, i = 0, 8
    while i + 12 <= len(data):
        length = int.from_bytes(data[i:i + 4], "big")
        count += data[i + 4:i + 8] == b"IDAT"
        i += 12 + length
    return count


def test_a_png_in_many_chunks_is_decoded_in_one_and_still_sent_as_uploaded(tmp_path: Path) -> None:
    # Screenshots come with their pixels in dozens of 8-64 KB chunks; joined into one, Pillow
    # decodes them in a single call (see above). Losslessly: same pixels, and a PNG that is sent
    # untouched keeps its own bytes.
    noise = Image.effect_noise((700, 500), 90).convert("RGB")
    path = save(tmp_path / "s.png", noise, compress_level=1)
    original = path.read_bytes()
    assert idat_chunks(original) >= 8
    joined = formats.one_idat(original)
    assert joined is not None and idat_chunks(joined) == 1
    assert Image.open(io.BytesIO(joined)).tobytes() == noise.tobytes()
    result = prepare(path, "max")
    assert result.mime == "image/png" and result.data == original
    assert formats.one_idat(joined) is None  # one chunk already
    assert formats.one_idat(original[:-5000]) is None  # truncated: Pillow says so itself
    cut = tmp_path / "cut.png"
    cut.write_bytes(original[:-5000])
    with pytest.raises(ImageError) as refused:
        prepare(cut, "max")
    assert refused.value.key == "image_truncated"


@pytest.mark.parametrize(("source", "size"), [((3000, 2000), (2048, 1365)), ((2500, 4000), (1920, 3072)),
                                              ((7000, 1000), (1024, 146))])
def test_resizing_in_strips_on_several_cores_gives_the_same_pixels(
    monkeypatch: pytest.MonkeyPatch, source: tuple[int, int], size: tuple[int, int]
) -> None:
    monkeypatch.setattr(pixels, "_CORES", 3)
    submitted = []
    real = pixels._strips.submit
    monkeypatch.setattr(pixels._strips, "submit", lambda *a: submitted.append(a) or real(*a))
    im = Image.effect_noise(source, 70).convert("RGB")
    for resample in (Image.Resampling.LANCZOS, Image.Resampling.BICUBIC):
        expected = im.resize(size, resample, reducing_gap=pixels.REDUCING_GAP)
        strips = pixels.resize(im, size, resample)
        assert strips.size == size
        differences = ImageChops.difference(strips, expected)
        assert max(high for _, high in differences.getextrema()) <= 1  # float rounding of a box
        counts = differences.histogram()
        changed = sum(sum(counts[band * 256 + 1:(band + 1) * 256]) for band in range(3))
        assert changed < 0.005 * size[0] * size[1] * 3
    assert len(submitted) == (0 if source[0] / size[0] >= 6 else 6)  # 6×: reduce() first, one call
