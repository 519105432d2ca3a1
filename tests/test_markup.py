"""Think tags and grounding boxes inside answers: hidden markers, numbered boxes, partial streams."""

from __future__ import annotations

from ui.markup import BEGIN, END, Box, render_boxes, split_think


def test_box_markers_become_numbered_labels():
    text = f"The cat is here {BEGIN}[100, 200, 500,800]{END} and the dog {BEGIN}[[600,100,900,400]]{END}."
    shown, boxes = render_boxes(text)
    assert BEGIN not in shown and END not in shown
    assert "**[1]** `[100, 200, 500, 800]`" in shown and "**[2]**" in shown
    assert boxes == [Box(1, 100, 200, 500, 800), Box(2, 600, 100, 900, 400)]


def test_markers_around_plain_text_just_disappear():
    shown, boxes = render_boxes(f"Answer: {BEGIN}B{END}")
    assert shown == "Answer: B" and boxes == []


def test_half_streamed_box_stays_hidden_until_complete():
    shown, boxes = render_boxes(f"It is at {BEGIN}[100, 2")
    assert shown == "It is at " and boxes == []
    shown, _ = render_boxes("It is at <|begin_of")
    assert shown == "It is at "


def test_box_pixels_scale_order_and_clip():
    assert Box(1, 500, 1000, 0, 250).pixels(200, 100) == (0, 25, 100, 100)
    assert Box(1, -10, 0, 1200, 500).pixels(100, 100) == (0, 0, 100, 50)


def test_think_tags_split_reasoning_from_answer():
    assert split_think("<think>look left</think>It is a cat.") == ("look left", "It is a cat.")
    assert split_think("  <think>still thinking") == ("still thinking", "")
    assert split_think("<thi") == ("", "")
    assert split_think("No tags here.") == ("", "No tags here.")


def test_a_box_never_closed_shows_its_words_once_the_answer_ends():
    text = f"start {BEGIN}[1,2,3,4] and a long tail…"
    assert render_boxes(text) == ("start ", [])  # streaming: the box may still close
    assert render_boxes(text, final=True) == ("start [1,2,3,4] and a long tail…", [])
    # Cut off by max_tokens inside a box, or inside a marker: the words stay, the markers go.
    assert render_boxes(f"It is at {BEGIN}[100, 2", final=True)[0] == "It is at [100, 2"
    assert render_boxes(f"{BEGIN}[1,2,3,4]{END} and a <", final=True)[0].endswith(" and a <")
    assert render_boxes("It is at <|begin_of", final=True)[0] == "It is at <|begin_of"


def test_a_half_think_tag_at_the_end_is_text_once_the_answer_ends():
    assert split_think("<thi", final=True) == ("", "<thi")
    assert split_think("<think>cut off at </thi", final=True) == ("cut off at </thi", "")
