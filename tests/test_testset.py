"""A test set without code (ui/testing/testset.py, tables.py): what a tester drops (images, folders,
.zip archives, a CSV or XLSX of questions, typed questions) becomes the cells they expect, and
each thing left out gets one sentence that says which and why while the good rows still run."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import make_image
from ui.testing.testset import Limits, build


def image(path: Path, shade: int) -> Path:
    """A small PNG whose bytes differ with `shade`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_image(path, color=(shade, 40, 90), fmt="PNG")


def asked(testset) -> list[tuple[str, str, str]]:
    return [(i.name, i.question, i.expected) for i in testset.items]


def test_typed_questions_are_asked_of_every_image_blank_lines_ignored(tmp_path: Path) -> None:
    a, b = image(tmp_path / "a.png", 1), image(tmp_path / "b.png", 2)
    testset = build([a, b], "What is shown?\n\n   \nHow many people?\n")
    assert asked(testset) == [("a.png", "What is shown?", ""), ("a.png", "How many people?", ""),
                              ("b.png", "What is shown?", ""), ("b.png", "How many people?", "")]
    assert testset.problems == []


def test_a_folder_is_read_recursively_in_natural_order_and_junk_is_counted_once(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    for name, shade in (("img10.jpg", 10), ("img2.JPG", 2), ("front/door.webp", 3)):
        make_image(_mkparent(shop / name), color=(shade, 0, 0),
                   fmt="JPEG" if name.lower().endswith("jpg") else "WEBP")
    (shop / "Thumbs.db").write_bytes(b"junk")
    (shop / "notes.txt").write_text("not a question list")
    (shop / ".DS_Store").write_bytes(b"mac")
    testset = build([shop], "Describe it.")
    assert [i.name for i in testset.items] == ["shop/front/door.webp", "shop/img2.JPG", "shop/img10.jpg"]
    assert testset.sentences("en") == ["Left out 2 files in “shop” that the chat cannot take as images."]


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_the_same_image_twice_is_asked_once_and_its_bytes_are_kept_by_digest(tmp_path: Path) -> None:
    a = image(tmp_path / "a.png", 7)
    copy = tmp_path / "copy of a.png"
    copy.write_bytes(a.read_bytes())
    testset = build([a, copy], "Q?")
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert [(i.image, i.name) for i in testset.items] == [(digest, "a.png")]
    assert testset.sentences("en") == ["“copy of a.png” is the same image as “a.png”: it is asked once."]
    assert dict(testset.images) == {digest: a.read_bytes()}


def test_files_that_are_not_images_get_a_sentence_each(tmp_path: Path) -> None:
    good = image(tmp_path / "good.png", 1)
    liar = tmp_path / "liar.jpg"
    liar.write_bytes(b"<html><script>alert(1)</script></html>")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.7")
    big = make_image(tmp_path / "big.png", size=(900, 700), fmt="PNG")
    testset = build([good, liar, empty, doc, big], "Q?", limits=Limits(image_bytes=good.stat().st_size))
    assert [i.name for i in testset.items] == ["good.png"]
    assert testset.sentences("en") == [
        "“liar.jpg” is not an image, whatever its name says: it was left out.",
        "“empty.png” is empty (0 bytes): it was left out.",
        "“report.pdf” is not an image the chat accepts (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC), a folder "
        "or a .zip: it was left out.",
        f"“big.png” is larger than {good.stat().st_size / 2**20:g} MB: it was left out; use a smaller copy."]


# --- tables ---------------------------------------------------------------------------------------


def test_csv_rows_name_their_image_and_bad_rows_get_one_sentence_each(tmp_path: Path) -> None:
    cat, dog = image(tmp_path / "cat.png", 1), image(tmp_path / "dog.png", 2)
    table = tmp_path / "questions.csv"
    table.write_text('image,question,expected\n'
                     'cat.png,"What animal, exactly?",a cat\n'      # row 2: good (comma inside quotes)
                     'bird.png,What bird?,\n'                       # row 3: no such image
                     'dog.png,,\n'                                  # row 4: no question
                     ',What is it?,\n'                              # row 5: no image name
                     '\n'                                           # a blank line: not a row
                     'DOG.PNG,"Is it\nasleep?",no\n'                # row 7: good (case, line break)
                     'cat.png,"What animal, exactly?",a cat\n',     # row 8: repeats row 2
                     encoding="utf-8")
    testset = build([cat, dog, table])
    assert asked(testset) == [("cat.png", "What animal, exactly?", "a cat"),
                              ("dog.png", "Is it\nasleep?", "no")]
    assert testset.sentences("en") == [
        "Row 3: no image named “bird.png” was dropped: check the name, or drop that image too.",
        "Row 4: the question is empty: write one, or delete the row.",
        "Row 5: the image column is empty: write the image's file name.",
        "Row 8 repeats row 2: it is asked once."]
    assert testset.sentences("zh")[0] == (
        "第 3 行：没有拖入名为“bird.png”的图片：请检查文件名，或把这张图片也拖进来。")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030", "utf-16"])
def test_chinese_excel_csv_in_any_encoding_it_writes_with_a_sniffed_delimiter(tmp_path: Path,
                                                                             encoding: str) -> None:
    photo = image(tmp_path / "收据.png", 3)
    table = tmp_path / "问题.csv"
    table.write_bytes("文件名;问题;备注\n收据.png;总金额是多少？;128 元\n".encode(encoding))
    testset = build([photo], table=table)
    assert asked(testset) == [("收据.png", "总金额是多少？", "128 元")]
    assert testset.problems == []


def test_xlsx_with_other_header_names_and_a_bad_row(tmp_path: Path) -> None:
    image(tmp_path / "photos" / "a.png", 1)
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["File name", "Prompt", "Reference", "Comments from QA"],
                ["a.png", "Count the chairs", 4, "ignored column"],
                ["a.png", None, "x", None],
                ["photos/a.png", "What colour is the wall?", None, None]):
        sheet.append(row)
    table = tmp_path / "set.xlsx"
    book.save(table)
    testset = build([tmp_path / "photos", table])
    assert asked(testset) == [("photos/a.png", "Count the chairs", "4"),
                              ("photos/a.png", "What colour is the wall?", "")]
    assert testset.sentences("en") == ["Row 3: the question is empty: write one, or delete the row."]


def test_a_table_without_an_image_column_asks_each_question_of_every_image(tmp_path: Path) -> None:
    a, b = image(tmp_path / "a.png", 1), image(tmp_path / "b.png", 2)
    table = tmp_path / "q.csv"
    table.write_text("问题\n这是什么？\n有几个人？\n", encoding="utf-8")
    testset = build([a, b, table])
    assert [(i.name, i.question) for i in testset.items] == [
        ("a.png", "这是什么？"), ("b.png", "这是什么？"), ("a.png", "有几个人？"), ("b.png", "有几个人？")]


def test_tables_that_cannot_be_read_say_how_to_fix_them(tmp_path: Path) -> None:
    a = image(tmp_path / "a.png", 1)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    assert build([a, old], "Q?").sentences("en") == [
        "“old.xls” is an old or non-Excel spreadsheet format: save it as .xlsx or CSV and load it again."]
    garbled = tmp_path / "garbled.csv"
    garbled.write_bytes(b"image,question\n\x80\xff\x80\xff")
    assert build([a], table=garbled).sentences("en")[0].startswith("“garbled.csv” is neither UTF-8 nor GBK")
    headless = tmp_path / "headless.csv"
    headless.write_text("a.png,What is it?\n")
    assert build([a], table=headless).sentences("en") == [
        "“headless.csv” has no header row naming its columns: put image, question (and, optionally, "
        "expected) in its first row."]
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"PK\x03\x04 not really a workbook")
    assert build([a], table=fake).sentences("en")[0] == (
        "“fake.xlsx” could not be read as a spreadsheet: save it again as .xlsx or CSV.")


def test_the_same_file_name_in_two_folders_must_be_told_apart(tmp_path: Path) -> None:
    image(tmp_path / "shop" / "a.png", 1)
    image(tmp_path / "home" / "a.png", 2)
    table = tmp_path / "t.csv"
    table.write_text("image,question\na.png,Which room?\nhome/a.png,Which room?\n")
    testset = build([tmp_path / "shop", tmp_path / "home", table])
    assert asked(testset) == [("home/a.png", "Which room?", "")]
    assert testset.sentences("en") == [
        "Row 2: “a.png” matches 2 different images (home/a.png, shop/a.png): write the folder too.",
        "Left out 1 image that no row of the table names (a typed question would be asked of every image)."]


def test_images_no_row_names_are_left_out_with_a_sentence(tmp_path: Path) -> None:
    a, b, c = (image(tmp_path / f"{n}.png", i) for i, n in enumerate("abc"))
    table = tmp_path / "t.csv"
    table.write_text("image,question\na.png,Q?\n")
    testset = build([a, b, c, table])
    assert asked(testset) == [("a.png", "Q?", "")]
    assert testset.sentences("en") == ["Left out 2 images that no row of the table names "
                                       "(a typed question would be asked of every image)."]
    assert list(testset.images) == [testset.items[0].image]  # the caller stores only what is asked


def test_nothing_to_ask_says_what_is_missing(tmp_path: Path) -> None:
    assert build([], "Q?").sentences("en") == [
        "No images yet: drop image files, a folder or a .zip archive of images."]
    assert build([image(tmp_path / "a.png", 1)], "\n\n").sentences("en") == [
        "No questions yet: type one question per line, or load a CSV / XLSX table with a question column."]


# --- .zip archives --------------------------------------------------------------------------------


def zip_of(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_zip_gives_its_images_and_leaves_mac_junk_and_unsafe_paths_out(tmp_path: Path) -> None:
    png = image(tmp_path / "src.png", 5).read_bytes()
    other = image(tmp_path / "src2.png", 6).read_bytes()
    archive = zip_of(tmp_path / "set.zip", {
        "set/b.png": png, "set/a.png": other, "__MACOSX/set/._a.png": b"\x00\x05\x16\x07",
        "set/._b.png": b"\x00\x05\x16\x07", "set/readme.md": b"hi", "../../evil.png": png,
        "/etc/abs.png": png})
    before = sorted(p.name for p in tmp_path.iterdir())
    testset = build([archive], "Q?")
    assert [i.name for i in testset.items] == ["set/a.png", "set/b.png"]
    assert testset.sentences("en") == [
        "“../../evil.png” in “set.zip” points outside the archive: it was left out.",
        "“/etc/abs.png” in “set.zip” points outside the archive: it was left out.",
        "Left out 1 file in “set.zip” that the chat cannot take as images."]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing unpacked to disk
    assert testset.images[testset.items[1].image] == png


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path) -> None:
    zeros = b"\x00" * (64 * 2**20)  # 64 MB of zeros deflate to ~64 KB
    bomb = zip_of(tmp_path / "bomb.zip", {f"{i}.png": zeros for i in range(4)})
    assert bomb.stat().st_size < 2**20
    refused = build([bomb], "Q?", limits=Limits(archive_bytes=2**27))
    assert refused.items == []
    assert refused.sentences("en")[0] == (
        "“bomb.zip” would unpack to more than 0.125 GB or 20000 files: it was not opened; "
        "split it into smaller archives.")
    # Under the archive limit, each member larger than one image's limit is skipped unread.
    one = zip_of(tmp_path / "one.zip", {"huge.png": zeros})
    assert build([one], "Q?").sentences("en")[0] == (
        "“huge.png” is larger than 20 MB: it was left out; use a smaller copy.")
    many = zip_of(tmp_path / "many.zip", {f"{i}.txt": b"" for i in range(30)}, zipfile.ZIP_STORED)
    assert "it was not opened" in build([many], "Q?", limits=Limits(archive_members=20)).sentences("en")[0]


def test_a_member_that_lies_about_its_size_is_never_read_past_what_it_declared(tmp_path: Path) -> None:
    png = image(tmp_path / "a.png", 1).read_bytes()
    archive = zip_of(tmp_path / "lie.zip", {"a.png": png + b"\x00" * 2**20}, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())  # both headers now say the member is as small as the PNG
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22:local + 26] = data[central + 24:central + 28] = len(png).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    testset = build([archive], "Q?", limits=Limits(image_bytes=len(png) + 100))
    assert testset.items == []
    assert testset.sentences("en") == [
        "“a.png” could not be read: it was left out; drop it again.",
        "No images yet: drop image files, a folder or a .zip archive of images."]


def test_not_a_zip_and_an_image_limit(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 broken")
    images = [image(tmp_path / f"{i}.png", i) for i in range(3)]
    testset = build([broken, *images], "Q?", limits=Limits(images=2))
    assert [i.name for i in testset.items] == ["0.png", "1.png"]
    assert testset.sentences("en") == [
        "“broken.zip” is not a readable .zip archive: it was left out; zip the images again.",
        "A test set holds at most 2 images: the images after the first 2 were left out."]


def test_image_bytes_are_read_when_asked_for_not_all_at_once(tmp_path: Path) -> None:
    a = image(tmp_path / "a.png", 1)
    testset = build([a], "Q?")
    digest = testset.items[0].image
    a.write_bytes(image(tmp_path / "b.png", 9).read_bytes())  # changed on disk after it was read
    with pytest.raises(OSError):
        testset.images[digest]
    assert len(testset.images) == 1


def test_a_big_archive_is_opened_once_not_once_per_image(tmp_path: Path, monkeypatch) -> None:
    # Opening a .zip reads its whole directory: once per member made 3,000 images take minutes.
    png = image(tmp_path / "a.png", 1).read_bytes()
    archive = zip_of(tmp_path / "many.zip", {f"im/{i}.png": png + i.to_bytes(4, "big") for i in range(300)})
    opened = []
    real_init = zipfile.ZipFile.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(args[0])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting_init)
    testset = build([archive], "Q?")
    assert len(testset.items) == 300 and len(opened) == 1
    assert all(testset.images[i.image].startswith(png) for i in testset.items)
    testset.images.close()
    assert len(opened) == 2
