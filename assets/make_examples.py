"""Draw the example images offered as one-click examples in the chat.

Run from the repository root:

    python assets/make_examples.py

Only Pillow is needed. The output is deterministic: every random choice comes from a
seeded ``random.Random``. Files are written next to this script:

    chart.png     bar chart of quarterly revenue
    receipt.jpg   photo-like scan of a shop receipt
    diagram.png   flow diagram of an image question
    scene.jpg     synthetic landscape at sunset
"""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]

# Preferred font files, best first. The first one found on the machine is used.
SANS = ["DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"]
SANS_BOLD = ["DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf"]
MONO = ["DejaVuSansMono.ttf", "LiberationMono-Regular.ttf"]
MONO_BOLD = ["DejaVuSansMono-Bold.ttf", "LiberationMono-Bold.ttf"]
# Fonts with Chinese glyphs. If none is installed the receipt is English only.
CJK = [
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansSC-Regular.otf",
    "SourceHanSansSC-Regular.otf",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "DroidSansFallbackFull.ttf",
]


def find_font_file(names: list[str]) -> Path | None:
    for name in names:
        for root in FONT_DIRS:
            if root.is_dir():
                for path in sorted(root.rglob(name)):
                    return path
    return None


def font(names: list[str], size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_font_file(names)
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size)


def text_size(draw: ImageDraw.ImageDraw, text: str, fnt) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=fnt)
    return int(right - left), int(bottom - top)


def grain(img: Image.Image, rng: random.Random, strength: int, blur: float = 0.0) -> Image.Image:
    """Add deterministic monochrome noise of roughly +-strength to an RGB image."""
    w, h = img.size
    noise = Image.frombytes("L", (w, h), rng.randbytes(w * h))
    if blur:
        noise = noise.filter(ImageFilter.GaussianBlur(blur))
        # Blurring pulls values towards the mean; stretch them back out.
        noise = noise.point(lambda v: max(0, min(255, 128 + (v - 128) * 3)))
    noise = noise.point(lambda v: v * (2 * strength) // 255).convert("RGB")
    # a - n + strength, with n in [0, 2*strength]
    return ImageChops.subtract(img, noise, scale=1.0, offset=strength)


def vertical_gradient(size: tuple[int, int], stops: list[tuple[float, tuple]]) -> Image.Image:
    """Image whose colour runs through ``stops`` [(position 0..1, (r, g, b)), ...] top to bottom."""
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(1, h - 1)
        for (p0, c0), (p1, c1) in itertools.pairwise(stops):
            if p0 <= t <= p1:
                k = (t - p0) / (p1 - p0) if p1 > p0 else 0.0
                colour = tuple(round(a + (b - a) * k) for a, b in zip(c0, c1, strict=True))
                break
        else:
            colour = stops[-1][1]
        draw.line([(0, y), (w, y)], fill=colour)
    return img


# --------------------------------------------------------------------------- chart


CHART_TITLE = "Quarterly revenue 2025 (million CNY)"
CHART_DATA = [("Q1", 12.4), ("Q2", 15.1), ("Q3", 18.9), ("Q4", 17.2)]


def make_chart(path: Path) -> None:
    w, h = 1200, 800
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    title_font = font(SANS_BOLD, 34)
    label_font = font(SANS, 22)
    value_font = font(SANS_BOLD, 24)
    small_font = font(SANS, 17)
    ink, grid, axis = (33, 37, 41), (218, 222, 228), (90, 96, 104)
    bar, bar_edge = (52, 120, 198), (36, 92, 160)

    tw, _ = text_size(d, CHART_TITLE, title_font)
    d.text(((w - tw) / 2, 38), CHART_TITLE, font=title_font, fill=ink)

    # Plot area
    left, right, top, bottom = 130, w - 60, 130, h - 120
    y_max, y_step = 20, 5

    def y_px(v: float) -> float:
        return bottom - (bottom - top) * v / y_max

    for v in range(0, y_max + 1, y_step):
        y = y_px(v)
        if v:
            d.line([(left, y), (right, y)], fill=grid, width=1)
        d.line([(left - 8, y), (left, y)], fill=axis, width=2)
        label = f"{v}"
        lw, lh = text_size(d, label, label_font)
        d.text((left - 16 - lw, y - lh / 2 - 4), label, font=label_font, fill=ink)

    n = len(CHART_DATA)
    slot = (right - left) / n
    bar_w = slot * 0.55
    for i, (name, value) in enumerate(CHART_DATA):
        cx = left + slot * (i + 0.5)
        x0, x1 = cx - bar_w / 2, cx + bar_w / 2
        d.rectangle([x0, y_px(value), x1, bottom], fill=bar, outline=bar_edge, width=2)
        text = f"{value:.1f}"
        vw, vh = text_size(d, text, value_font)
        d.text((cx - vw / 2, y_px(value) - vh - 16), text, font=value_font, fill=ink)
        nw, _ = text_size(d, name, label_font)
        d.line([(cx, bottom), (cx, bottom + 8)], fill=axis, width=2)
        d.text((cx - nw / 2, bottom + 16), name, font=label_font, fill=ink)

    # Axes on top of the bars
    d.line([(left, top - 10), (left, bottom)], fill=axis, width=2)
    d.line([(left, bottom), (right, bottom)], fill=axis, width=2)

    # Axis titles
    x_title = "Quarter"
    xw, _ = text_size(d, x_title, label_font)
    d.text(((left + right - xw) / 2, bottom + 52), x_title, font=label_font, fill=axis)
    y_title = "Revenue (million CNY)"
    yw, yh = text_size(d, y_title, label_font)
    tmp = Image.new("RGBA", (yw + 10, yh + 14), (255, 255, 255, 0))
    ImageDraw.Draw(tmp).text((5, 2), y_title, font=label_font, fill=axis)
    tmp = tmp.rotate(90, expand=True)
    img.paste(tmp, (34, int((top + bottom - tmp.height) / 2)), tmp)

    note = "Source: internal sales report (example data)"
    nw, _ = text_size(d, note, small_font)
    d.text((w - 60 - nw, h - 36), note, font=small_font, fill=(130, 136, 144))

    img.save(path, optimize=True)


# --------------------------------------------------------------------------- receipt


STORE = "GREEN LEAF MARKET"
STORE_LINES = ["88 Huaihai Road, Shanghai", "Tel: 021-5555-0188"]
RECEIPT_DATE = "2025-03-14  18:42"
RECEIPT_NO = "Receipt No. 000317"
CASHIER = "Cashier: 07"
# (English name, Chinese name, quantity, unit price in CNY)
RECEIPT_ITEMS = [
    ("Jasmine Green Tea 250g", "茉莉花茶", 1, "38.00"),
    ("Fresh Milk 1L", "鲜牛奶", 2, "12.90"),
    ("Whole Wheat Bread", "全麦面包", 1, "15.50"),
    ("Fuji Apples 1kg", "富士苹果", 1, "19.80"),
    ("Frozen Dumplings 500g", "速冻水饺", 2, "22.00"),
    ("Soy Sauce 500ml", "酱油", 1, "9.90"),
]
TAX_RATE = Decimal("0.06")
PAYMENT = "WeChat Pay"


def receipt_totals() -> tuple[list[Decimal], Decimal, Decimal, Decimal]:
    cent = Decimal("0.01")
    lines = [(qty * Decimal(price)).quantize(cent) for _, _, qty, price in RECEIPT_ITEMS]
    subtotal = sum(lines, Decimal("0"))
    tax = (subtotal * TAX_RATE).quantize(cent)
    return lines, subtotal, tax, subtotal + tax


def make_receipt(path: Path) -> None:
    rng = random.Random(2025)
    cjk_path = find_font_file(CJK)
    mono = font(MONO, 25)
    mono_bold = font(MONO_BOLD, 27)
    big = font(MONO_BOLD, 40)
    cjk = ImageFont.truetype(str(cjk_path), 23) if cjk_path else None
    ink = (38, 36, 42)

    # --- the paper, drawn flat
    # Drawn on a tall strip that is cut to the printed length afterwards.
    pw, ph = 680, 1400
    paper = vertical_gradient((pw, ph), [(0, (247, 244, 236)), (1, (238, 234, 224))])
    d = ImageDraw.Draw(paper)
    margin = 44
    y = 50

    def centred(text: str, fnt, dy: int) -> None:
        nonlocal y
        tw, _ = text_size(d, text, fnt)
        d.text(((pw - tw) / 2, y), text, font=fnt, fill=ink)
        y += dy

    def row(left: str, right: str, fnt=mono, dy: int = 36) -> None:
        nonlocal y
        d.text((margin, y), left, font=fnt, fill=ink)
        rw, _ = text_size(d, right, fnt)
        d.text((pw - margin - rw, y), right, font=fnt, fill=ink)
        y += dy

    def rule(char: str = "-") -> None:
        nonlocal y
        cw, _ = text_size(d, char, mono)
        d.text((margin, y), char * int((pw - 2 * margin) / cw), font=mono, fill=ink)
        y += 36

    centred(STORE, big, 58)
    for line in STORE_LINES:
        centred(line, mono, 34)
    y += 14
    rule("=")
    row(RECEIPT_DATE, CASHIER)
    row(RECEIPT_NO, "")
    rule()
    row("ITEM", "AMOUNT", mono_bold, 42)

    lines, subtotal, tax, total = receipt_totals()
    for (name, zh, qty, price), amount in zip(RECEIPT_ITEMS, lines, strict=True):
        # Name on one line; quantity, unit price and amount on the next, as on real receipts.
        d.text((margin, y), name, font=mono, fill=ink)
        if cjk is not None:
            nw, _ = text_size(d, name, mono)
            d.text((margin + nw + 18, y + 1), zh, font=cjk, fill=ink)
        y += 32
        row(f"  {qty} x {price}", f"{amount:.2f}", dy=46)
    rule()
    row("SUBTOTAL", f"{subtotal:.2f}", dy=42)
    row(f"TAX ({TAX_RATE * 100:.0f}%)", f"{tax:.2f}", dy=48)
    row("TOTAL (CNY)", f"{total:.2f}", mono_bold, 50)
    rule("=")
    row(f"Paid by {PAYMENT}", f"{total:.2f}", dy=42)
    row("Change", "0.00")
    y += 24
    centred("Thank you for shopping with us!", mono, 34)
    centred("谢谢惠顾" if cjk is not None else "Please keep this receipt.", cjk or mono, 48)

    # A barcode, thin and thick bars from the seeded generator
    x, bar_top = margin + 80, y
    while x < pw - margin - 80:
        bw = rng.choice([2, 2, 2, 3, 4])
        if rng.random() < 0.55:
            d.rectangle([x, bar_top, x + bw - 1, bar_top + 70], fill=ink)
        x += bw
    y = bar_top + 80
    centred("6 901234 000317", mono, 56)
    ph = y
    paper = paper.crop((0, 0, pw, ph))

    # Thermal print is never perfectly black: soften slightly and add paper grain.
    paper = paper.filter(ImageFilter.GaussianBlur(0.45))
    paper = grain(paper, rng, 6, blur=0.8)

    # Torn zig-zag top and bottom edges via an alpha mask
    mask = Image.new("L", (pw, ph), 255)
    md = ImageDraw.Draw(mask)
    tooth = 14
    for edge_y, sign in ((0, 1), (ph - 1, -1)):
        pts = [(0, edge_y)]
        for i, x in enumerate(range(0, pw + tooth, tooth)):
            pts.append((x, edge_y + sign * (9 if i % 2 else 2)))
        pts.append((pw, edge_y))
        md.polygon(pts, fill=0)
    paper.putalpha(mask)

    # --- the table the paper lies on
    W, H = 900, 1400
    table = vertical_gradient((W, H), [(0, (118, 104, 92)), (1, (92, 80, 70))])
    td = ImageDraw.Draw(table)
    for _ in range(90):  # faint wood-like streaks
        ty = rng.randrange(H)
        shade = rng.randint(-10, 10)
        r, g, b = table.getpixel((W // 2, ty))  # type: ignore[misc]
        colour = (r + shade, g + shade, b + shade)
        td.line([(0, ty), (W, ty + rng.randint(-30, 30))], fill=colour, width=rng.randint(1, 4))
    table = table.filter(ImageFilter.GaussianBlur(1.5))
    table = grain(table, rng, 8, blur=0.7)

    # Rotate the paper and cast a soft shadow.
    angle = -2.0
    rotated = paper.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    fit = min(1.0, (H - 110) / rotated.height, (W - 110) / rotated.width)
    if fit < 1.0:  # leave some table visible around the paper
        size = (round(rotated.width * fit), round(rotated.height * fit))
        rotated = rotated.resize(size, Image.Resampling.LANCZOS)
    ox, oy = (W - rotated.width) // 2, (H - rotated.height) // 2
    shadow = Image.new("L", (W, H), 0)
    shadow.paste(rotated.getchannel("A"), (ox + 10, oy + 14))
    shadow = shadow.filter(ImageFilter.GaussianBlur(14)).point(lambda v: v * 55 // 100)
    table.paste(Image.new("RGB", (W, H), (30, 24, 20)), (0, 0), shadow)
    table.paste(rotated, (ox, oy), rotated)

    # Uneven light from the upper left, as in a phone photo
    light = (
        Image.radial_gradient("L")
        .resize((W * 2, H * 2))
        .crop((W // 2, H // 2 - 300, W // 2 + W, H // 2 - 300 + H))
    )
    light = light.point(lambda v: v * 40 // 255)
    table.paste(Image.new("RGB", (W, H), (20, 18, 16)), (0, 0), light)

    table.save(path, quality=88, optimize=True)


# --------------------------------------------------------------------------- diagram


class Node(NamedTuple):
    kind: str  # "box" or "diamond"
    x: float  # centre
    width: float
    main: str
    sub: str
    fill: tuple[int, int, int]
    outline: tuple[int, int, int]


def make_diagram(path: Path) -> None:
    s = 2  # draw at double size, then downscale for smooth lines
    w, h = 1400, 500
    img = Image.new("RGB", (w * s, h * s), (250, 251, 253))
    d = ImageDraw.Draw(img)
    title_font = font(SANS_BOLD, 30 * s)
    box_font = font(SANS_BOLD, 20 * s)
    sub_font = font(SANS, 18 * s)
    small_font = font(SANS_BOLD, 19 * s)
    ink, line = (30, 41, 59), (71, 85, 105)

    title = "How an image question is answered"
    tw, _ = text_size(d, title, title_font)
    d.text(((w * s - tw) / 2, 30 * s), title, font=title_font, fill=ink)

    cy = 215  # centre line of the main row
    bw, bh = 232, 110  # box size
    dw, dh = 180, 150  # diamond size
    # (kind, main label, second line, fill colour, outline colour)
    steps: list[tuple[str, str, str, tuple[int, int, int], tuple[int, int, int]]] = [
        ("box", "Upload image", "", (219, 234, 254), (59, 130, 246)),
        ("box", "Prepare", "(resize, encode)", (224, 242, 254), (14, 116, 144)),
        ("diamond", "Image OK?", "", (254, 243, 199), (217, 119, 6)),
        ("box", "GLM-4V endpoint", "", (237, 233, 254), (124, 58, 237)),
        ("box", "Streamed answer", "", (220, 252, 231), (22, 163, 74)),
    ]
    # Spread the shapes evenly across the width
    margin = 40
    widths = [dw if kind == "diamond" else bw for kind, *_ in steps]
    gap = (w - 2 * margin - sum(widths)) / (len(steps) - 1)
    nodes: list[Node] = []
    x: float = margin
    for (kind, main, sub, fill, outline), width in zip(steps, widths, strict=True):
        nodes.append(Node(kind, x + width / 2, width, main, sub, fill, outline))
        x += width + gap

    def arrow(p0: tuple[float, float], p1: tuple[float, float], colour=line) -> None:
        (x0, y0), (x1, y1) = p0, p1
        d.line([(x0 * s, y0 * s), (x1 * s, y1 * s)], fill=colour, width=4 * s)
        ang = math.atan2(y1 - y0, x1 - x0)
        size = 16
        tip = (x1 * s, y1 * s)
        wing = [
            (
                (x1 - size * math.cos(ang) + sgn * size * 0.6 * math.sin(ang)) * s,
                (y1 - size * math.sin(ang) - sgn * size * 0.6 * math.cos(ang)) * s,
            )
            for sgn in (1, -1)
        ]
        d.polygon([tip, *wing], fill=colour)

    def label(cx: float, cy_: float, main: str, sub: str) -> None:
        mw, mh = text_size(d, main, box_font)
        if not sub:
            d.text((cx * s - mw / 2, cy_ * s - mh / 2 - 4 * s), main, font=box_font, fill=ink)
            return
        sw, sh = text_size(d, sub, sub_font)
        gap = 10 * s
        top = cy_ * s - (mh + gap + sh) / 2 - 3 * s
        d.text((cx * s - mw / 2, top), main, font=box_font, fill=ink)
        d.text((cx * s - sw / 2, top + mh + gap), sub, font=sub_font, fill=(71, 85, 105))

    def box(cx: float, cy_: float, bw_: float, bh_: float, fill, outline) -> None:
        rect = [(cx - bw_ / 2) * s, (cy_ - bh_ / 2) * s, (cx + bw_ / 2) * s, (cy_ + bh_ / 2) * s]
        shadow = [v + 5 * s for v in rect]
        d.rounded_rectangle(shadow, radius=16 * s, fill=(226, 232, 240))
        d.rounded_rectangle(rect, radius=16 * s, fill=fill, outline=outline, width=3 * s)

    for n in nodes:
        if n.kind == "box":
            box(n.x, cy, bw, bh, n.fill, n.outline)
        else:
            cx = n.x
            pts = [(cx, cy - dh / 2), (cx + dw / 2, cy), (cx, cy + dh / 2), (cx - dw / 2, cy)]
            d.polygon([(px * s + 5 * s, py * s + 5 * s) for px, py in pts], fill=(226, 232, 240))
            d.polygon([(px * s, py * s) for px, py in pts], fill=n.fill, outline=n.outline, width=3 * s)
        label(n.x, cy, n.main, n.sub)

    # Arrows along the main row
    for a, b in itertools.pairwise(nodes):
        arrow((a.x + a.width / 2 + 4, cy), (b.x - b.width / 2 - 6, cy))

    # "yes" / "no" branches of the decision
    decision, after = nodes[2], nodes[3]
    diamond_x = decision.x
    yes_x = (decision.x + decision.width / 2 + after.x - after.width / 2) / 2
    yw, _ = text_size(d, "yes", small_font)
    d.text((yes_x * s - yw / 2, (cy - 36) * s), "yes", font=small_font, fill=(22, 163, 74))

    err_cy, err_w, err_h = 420, 270, 70
    arrow((diamond_x, cy + dh / 2 + 4), (diamond_x, err_cy - err_h / 2 - 6))
    d.text(((diamond_x + 12) * s, (cy + dh / 2 + 14) * s), "no", font=small_font, fill=(220, 38, 38))
    box(diamond_x, err_cy, err_w, err_h, (254, 226, 226), (220, 38, 38))
    label(diamond_x, err_cy, "Show error message", "")

    img = img.resize((w, h), Image.Resampling.LANCZOS)
    img.save(path, optimize=True)


# --------------------------------------------------------------------------- scene


def ridge(rng: random.Random, width: int, base: float, height: float, rough: float) -> list[float]:
    """Mountain ridge heights by midpoint displacement, one value per 8 px."""
    n = 256
    pts = [0.0] * (n + 1)
    pts[0], pts[n] = rng.uniform(-1, 1), rng.uniform(-1, 1)
    step, amp = n, 1.0
    while step > 1:
        half = step // 2
        for i in range(half, n, step):
            pts[i] = (pts[i - half] + pts[i + half]) / 2 + rng.uniform(-amp, amp)
        step, amp = half, amp * rough
    lo, hi = min(pts), max(pts)
    return [base - height * (p - lo) / (hi - lo) for p in pts]


def make_scene(path: Path) -> None:
    rng = random.Random(7)
    W, H = 1600, 1000
    horizon = 600

    # Mountain ridges, far (hazy, light) to near (dark):
    # (ridge heights, base y, top colour, bottom colour)
    layers = [
        (ridge(rng, W, horizon - 10, 150, 0.58), (156, 108, 142), (196, 136, 142)),
        (ridge(rng, W, horizon - 4, 115, 0.55), (104, 70, 110), (146, 96, 120)),
        (ridge(rng, W, horizon + 2, 60, 0.52), (54, 38, 68), (80, 54, 82)),
    ]

    def ridge_y(heights: list[float], x: float) -> float:
        return heights[round(x / W * (len(heights) - 1))]

    # The sun sits low, just touching the far ridge.
    sun_x, sun_r = 1040, 44
    sun_y = round(ridge_y(layers[0][0], sun_x) - sun_r * 0.45)

    sky = vertical_gradient(
        (W, horizon),
        [
            (0.00, (34, 40, 92)),
            (0.35, (98, 72, 138)),
            (0.62, (212, 110, 112)),
            (0.85, (248, 164, 92)),
            (1.00, (255, 206, 128)),
        ],
    )
    img = Image.new("RGB", (W, H))
    img.paste(sky, (0, 0))

    # Sun glow: a radial gradient used as a mask for a warm colour
    def glow(radius: int, colour, strength: int) -> None:
        g = Image.radial_gradient("L").resize((radius * 2, radius * 2), Image.Resampling.BICUBIC)
        g = g.point(lambda v: max(0, 255 - v * 255 // 180) * strength // 255)
        img.paste(Image.new("RGB", g.size, colour), (sun_x - radius, sun_y - radius), g)

    glow(700, (255, 190, 120), 110)
    glow(260, (255, 214, 150), 170)
    glow(100, (255, 236, 190), 220)
    d = ImageDraw.Draw(img)
    d.ellipse([sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r], fill=(255, 246, 214))

    # Thin clouds lit from below
    for _ in range(14):
        cx, cy = rng.randrange(-100, W), rng.randrange(90, 380)
        cw, ch = rng.randrange(220, 520), rng.randrange(8, 22)
        cloud = Image.new("L", (W, horizon), 0)
        ImageDraw.Draw(cloud).ellipse([cx, cy, cx + cw, cy + ch], fill=rng.randrange(50, 110))
        cloud = cloud.filter(ImageFilter.GaussianBlur(7))
        tint = (255, 170, 150) if cy > 220 else (200, 150, 190)
        img.paste(Image.new("RGB", (W, horizon), tint), (0, 0), cloud)

    for heights, top_colour, bottom_colour in layers:
        xs = [i * (W + 16) / (len(heights) - 1) - 8 for i in range(len(heights))]
        mask = Image.new("L", (W, H), 0)
        ImageDraw.Draw(mask).polygon(
            [*zip(xs, heights, strict=True), (W + 8, horizon + 4), (-8, horizon + 4)], fill=255
        )
        top = int(min(heights))
        fill = Image.new("RGB", (W, H))
        fill.paste(
            vertical_gradient((W, horizon + 4 - top), [(0, top_colour), (1, bottom_colour)]),
            (0, top),
        )
        img.paste(fill, (0, 0), mask.filter(ImageFilter.GaussianBlur(0.8)))

    # Evening mist lying on the valley floor
    mist = vertical_gradient((W, 80), [(0, (0, 0, 0)), (0.8, (70, 70, 70)), (1, (40, 40, 40))])
    img.paste(Image.new("RGB", (W, 80), (214, 150, 150)), (0, horizon - 78), mist.convert("L"))

    # Pine trees (stacked triangles) along the near shore on the left
    d = ImageDraw.Draw(img)
    tree_colour = (30, 22, 38)
    for slot in range(-6, 540, 11):
        x = slot + rng.uniform(-4, 4)
        th = rng.uniform(30, 78) * (1 - x / 1200)
        for k in range(3):
            tier_base = horizon + 3 - th * k * 0.28
            tier_w = th * (0.34 - k * 0.08)
            d.polygon(
                [(x, tier_base - th * 0.5 - k * th * 0.1), (x - tier_w, tier_base), (x + tier_w, tier_base)],
                fill=tree_colour,
            )
    d.rectangle([0, horizon - 3, 560, horizon + 3], fill=tree_colour)

    # Lake: mirrored sky with ripples, darkened and tinted blue
    lake_h = H - horizon
    reflection = img.crop((0, horizon - lake_h, W, horizon)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    rippled = Image.new("RGB", reflection.size)
    for y in range(lake_h):
        shift = round(math.sin(y * 0.45) * (1 + y * 0.02) + math.sin(y * 0.13 + 1.0) * 2)
        rippled.paste(reflection.crop((0, y, W, y + 1)), (shift, y))
        if shift > 0:
            rippled.paste(reflection.crop((0, y, shift, y + 1)), (0, y))
        elif shift < 0:
            rippled.paste(reflection.crop((W + shift, y, W, y + 1)), (W + shift, y))
    rippled = rippled.filter(ImageFilter.GaussianBlur(1.2))
    water = vertical_gradient((W, lake_h), [(0, (70, 60, 110)), (1, (18, 22, 48))])
    rippled = Image.blend(rippled, water, 0.38)
    img.paste(rippled, (0, horizon))

    # Warm, vertically stretched glow where the sun is mirrored
    mirror_y = 2 * horizon - sun_y
    g = Image.radial_gradient("L").resize((240, 520), Image.Resampling.BICUBIC)
    g = g.point(lambda v: max(0, 255 - v * 255 // 128) * 150 // 255)
    img.paste(Image.new("RGB", g.size, (255, 196, 130)), (sun_x - 120, mirror_y - 260), g)

    # Soft glitter on the water below the sun, on its own blurred layer
    sparkle = Image.new("L", (W, H), 0)
    sd = ImageDraw.Draw(sparkle)
    for _ in range(420):
        depth = rng.random() ** 1.4  # 0 at the horizon, 1 at the bottom edge
        gy = horizon + 4 + depth * (lake_h - 8)
        gx = sun_x + rng.gauss(0, 18 + depth * 110)
        length = rng.uniform(4, 22) * (1 + depth * 2.5)
        level = round(rng.uniform(90, 255) * (1 - 0.6 * depth))
        sd.line([(gx - length / 2, gy), (gx + length / 2, gy)], fill=level, width=1 if depth < 0.4 else 2)
    sparkle = sparkle.filter(ImageFilter.GaussianBlur(0.9))
    img.paste(Image.new("RGB", (W, H), (255, 226, 170)), (0, 0), sparkle)

    # Grass and reeds in the bottom-left foreground: tapered, slightly curved blades
    d = ImageDraw.Draw(img)
    d.ellipse([-260, H - 70, 420, H + 140], fill=(12, 10, 20))
    for _ in range(120):
        x0 = rng.uniform(-20, 380)
        base_y = H - 20 + rng.uniform(0, 30)
        length = rng.uniform(60, 260) * (1 - x0 / 700)
        lean = rng.uniform(-0.45, 0.45)
        half = rng.uniform(2.0, 4.5)
        left, right = [], []
        for i in range(7):
            t = i / 6
            px = x0 + lean * length * t * t
            py = base_y - length * t
            wdt = half * (1 - t)
            left.append((px - wdt, py))
            right.append((px + wdt, py))
        d.polygon(left + right[::-1], fill=(12, 10, 20))

    # A few birds
    for bx, by, bs in [(420, 180, 14), (455, 200, 11), (490, 172, 9), (1290, 260, 10)]:
        d.line(
            [(bx - bs, by - bs * 0.4), (bx, by), (bx + bs, by - bs * 0.4)],
            fill=(40, 30, 50),
            width=2,
            joint="curve",
        )

    # Vignette and film grain so it does not look flat
    vignette = Image.radial_gradient("L").resize((W, H)).point(lambda v: max(0, v - 90) * 90 // 165)
    img.paste(Image.new("RGB", (W, H), (10, 8, 20)), (0, 0), vignette)
    img = grain(img, rng, 7, blur=0.6)
    img.save(path, quality=90, optimize=True)


def main() -> None:
    jobs = [
        ("chart.png", make_chart),
        ("receipt.jpg", make_receipt),
        ("diagram.png", make_diagram),
        ("scene.jpg", make_scene),
    ]
    for name, make in jobs:
        out = HERE / name
        make(out)
        with Image.open(out) as im:
            print(f"{out.name:12} {im.width}x{im.height}  {out.stat().st_size / 1024:6.1f} KB")


if __name__ == "__main__":
    main()
