"""Every sentence people read, in English and Chinese.

`LABELS` feed gr.I18n (component labels follow the browser's language); `say(lang, key, ...)`
renders server-side sentences (errors, notices, stats) in the language of the request.
"""

from __future__ import annotations

from collections.abc import Mapping

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "heading": "## Ask about images\nDrop in photos, screenshots or scans, ask in English or Chinese, and watch the answer stream in.",
        "placeholder": "Ask about your images… (drop, paste or attach images; paste an image link on its own line)",
        "chat": "Conversation",
        "model": "Model",
        "settings": "Settings",
        "temperature": "Temperature",
        "temperature_info": "0 = always the most likely answer; higher = more varied",
        "max_tokens": "Max answer length (tokens)",
        "system_prompt": "System prompt",
        "system_placeholder": "Optional: instructions for every answer, e.g. “Answer in Chinese.”",
        "top_p": "Top-p",
        "quality": "Image detail",
        "quality_fast": "Fast (small)",
        "quality_balanced": "Balanced",
        "quality_max": "Max detail (documents, OCR)",
        "history_images": "Images from earlier turns",
        "history_all": "All",
        "history_last": "Last one",
        "history_none": "None",
        "thinking": "Thinking (models that support it)",
        "api_key": "Your API key",
        "api_key_info": "Kept only in this browser; sent to the model endpoint with your questions.",
        "examples": "Examples",
        "advanced": "Advanced",
        "no_key_banner": "⚠️ No API key: set OPENAI_API_KEY in .env or as a Space secret, then restart the app.",
        "tools": "Export · import · copy as code",
        "export": "Export conversation",
        "import": "Import conversation (.json)",
        "copy_code": "Copy last request as code",
        "downloads": "Downloads: Markdown to read, JSON to import later",
    },
    "zh": {
        "heading": "## 看图问答\n拖入照片、截图或扫描件，用中文或英文提问，答案实时流式显示。",
        "placeholder": "针对图片提问……（可拖入、粘贴或添加图片；图片链接单独占一行）",
        "chat": "对话",
        "model": "模型",
        "settings": "设置",
        "temperature": "温度",
        "temperature_info": "0 = 总是给出最可能的回答；越高越多样",
        "max_tokens": "最大回答长度（token）",
        "system_prompt": "系统提示词",
        "system_placeholder": "可选：对每个回答的要求，例如“请用英文回答。”",
        "top_p": "Top-p",
        "quality": "图片清晰度",
        "quality_fast": "快速（小图）",
        "quality_balanced": "均衡",
        "quality_max": "最高清晰度（文档、OCR）",
        "history_images": "之前轮次的图片",
        "history_all": "全部",
        "history_last": "仅最近一张",
        "history_none": "不发送",
        "thinking": "深度思考（支持的模型）",
        "api_key": "你的 API Key",
        "api_key_info": "只保存在本浏览器中，仅随提问发送给模型接口。",
        "examples": "示例",
        "advanced": "高级",
        "no_key_banner": "⚠️ 没有 API Key：请在 .env 或 Space 的 Secrets 中设置 OPENAI_API_KEY，然后重启应用。",
        "tools": "导出 · 导入 · 复制为代码",
        "export": "导出对话",
        "import": "导入对话（.json）",
        "copy_code": "把上一次请求复制为代码",
        "downloads": "下载：Markdown 便于阅读，JSON 可再次导入",
    },
}

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "no_key": "No API key: set OPENAI_API_KEY in .env or as a Space secret, then restart the app.",
        "no_key_byok": "Enter your API key in the “Your API key” box on the right, then ask again.",
        "empty": "Type a question or add an image first.",
        "too_many_images": "{model} accepts at most {limit} image{limit_s} per request and this message has {count}: remove some and send again.",
        "base64_not_accepted": "{model} only accepts image links, not uploaded files: paste an http(s) image link or pick another model.",
        "bad_link": "Only http(s) image links can be sent, not “{link}”.",
        "image_empty": "“{name}” is empty (0 bytes): remove it and attach the image again.",
        "image_unreadable": "“{name}” is not an image the model can read (JPEG, PNG, WebP, GIF, BMP, HEIC): remove it and send again.",
        "image_truncated": "“{name}” is cut off or damaged: remove it and attach a complete copy.",
        "image_too_large": "“{name}” has more than {limit_mp:g} megapixels, too many to open safely: remove it or send a smaller version.",
        "image_svg": "“{name}” is an SVG drawing: export it as PNG and send that instead.",
        "image_heic_unsupported": "“{name}” is a HEIC photo, which this server cannot convert: export it as JPEG and send that instead.",
        "image_upload_too_big": "“{name}” is larger than the {limit} MB upload limit: send a smaller file.",
        "auth": "The API key was refused by the endpoint: check OPENAI_API_KEY (or the key in Settings).",
        "model_not_found": "The endpoint does not know the model “{model}”: pick another model or check GLM_MODELS.",
        "bad_request": "The endpoint rejected the request (often an image it cannot read, or a setting out of range): try another image or lower Max answer length.",
        "messages_illegal": "The endpoint rejected the conversation format: clear the conversation and ask again.",
        "model_forbidden": "This API key may not use the model “{model}”: pick another model or enable it for your account.",
        "prompt_too_long": "The conversation is too long for the model: clear it or send fewer images, then ask again.",
        "sensitive_input": "The endpoint's content filter refused this question or image: rephrase it or use another image.",
        "too_large": "The request was too large for the endpoint or a proxy in front of it: send fewer images or choose Image detail “Fast”.",
        "quota": "The account behind this API key has no balance left: top it up, or use another key.",
        "rate_limited": "The endpoint is busy or rate-limiting this key: wait a moment and press Retry.",
        "server_error": "The endpoint had an internal error: press Retry in a moment.",
        "connect": "Cannot reach the endpoint at {base_url}: check OPENAI_BASE_URL and your network, then press Retry.",
        "timeout_first": "The endpoint did not start answering in time: press Retry, or try a smaller image.",
        "stalled": "The answer stopped arriving (no data for {seconds} s): press Retry.",
        "dropped": "The connection to the endpoint was lost mid-answer: press Retry.",
        "malformed": "The endpoint sent data that could not be read: press Retry.",
        "stream_error": "The endpoint reported an error mid-answer: press Retry.",
        "no_choices": "The endpoint sent no answer: press Retry.",
        "unknown": "The endpoint answered with an error: press Retry, or check the server log.",
        "finish_length": "The answer was cut off at the Max answer length limit: raise it in Settings and press Retry, or ask “continue”.",
        "finish_sensitive": "The endpoint's content filter stopped this answer.",
        "finish_network_error": "The model's service had a network error mid-answer: press Retry.",
        "finish_context": "The conversation filled the model's context window: clear it or send fewer images.",
        "retrying": "Endpoint busy, retrying {attempt}/{total}…",
        "interrupted": "Interrupted",
        "stopped": "Stopped: the answer above is as far as it got. Press Retry to ask again.",
        "endpoint_said": "The endpoint said: {detail}",
        "stats": "{prompt} prompt + {completion} answer tokens · first token {ttft:.1f} s · {tps:.0f} tokens/s · {total:.1f} s",
        "stats_no_usage": "first token {ttft:.1f} s · {total:.1f} s",
        "saw_title": "What the model saw: {count} image{count_s}, {size}, ≈{tokens} image tokens",
        "saw_line": "{name}: {original} → {sent}",
        "saw_omitted": "{count} image{count_s} from earlier turns not sent again (Advanced → Images from earlier turns, or the model's limit).",
        "note_rotated": "EXIF rotation applied",
        "note_converted": "colours converted",
        "note_first_frame": "first frame of the animation",
        "note_downscaled": "downscaled",
        "note_recompressed": "re-encoded",
        "note_unchanged": "sent as uploaded",
        "note_metadata_removed": "sent as uploaded, without location and camera data",
        "boxes_title": "{count} box(es) from the answer, drawn on the image",
        "nothing_to_export": "The conversation is empty: ask something first.",
        "import_not_json": "The file is not a conversation export (not valid JSON).",
        "import_wrong_format": "The file is not a conversation exported by this app.",
        "import_newer_version": "The file was exported by a newer version of this app: update the app to import it.",
        "import_not_image": "An image in the file is not a readable image: the file was refused.",
        "import_bad_name": "An image in the file has an unsafe name: the file was refused.",
        "import_too_large": "The file is too large to import (over {limit_mb:.0f} MB of images).",
        "image_missing": "“{name}” is no longer on the server (uploads are deleted after a while): attach it again.",
        "image_cannot_fit": "“{name}” cannot be compressed below {limit_mb:g} MB: crop or shrink it first.",
        "example_chart": "Which quarter had the highest revenue, and by how much did it grow?",
        "example_receipt": "Read this receipt: list each item with its price and check the total.",
        "example_diagram": "Explain this diagram step by step.",
        "example_scene": "Describe this scene. What time of day is it?",
    },
    "zh": {
        "no_key": "没有 API Key：请在 .env 或 Space 的 Secrets 中设置 OPENAI_API_KEY，然后重启应用。",
        "no_key_byok": "请在右侧“你的 API Key”框中填写 Key，然后重新提问。",
        "empty": "请先输入问题或添加图片。",
        "too_many_images": "{model} 每次请求最多接受 {limit} 张图片，这条消息有 {count} 张：请删掉一些后重新发送。",
        "base64_not_accepted": "{model} 只接受图片链接，不接受上传的文件：请粘贴 http(s) 图片链接，或换一个模型。",
        "bad_link": "只能发送 http(s) 图片链接，不能发送“{link}”。",
        "image_empty": "“{name}”是空文件（0 字节）：请删掉后重新添加图片。",
        "image_unreadable": "“{name}”不是模型能读取的图片（JPEG、PNG、WebP、GIF、BMP、HEIC）：请删掉后重新发送。",
        "image_truncated": "“{name}”不完整或已损坏：请删掉后添加完整的图片。",
        "image_too_large": "“{name}”超过 {limit_mp:g} 百万像素，无法安全打开：请删掉或改发较小的版本。",
        "image_svg": "“{name}”是 SVG 矢量图：请导出为 PNG 后再发送。",
        "image_heic_unsupported": "“{name}”是 HEIC 照片，本服务器无法转换：请导出为 JPEG 后再发送。",
        "image_upload_too_big": "“{name}”超过了 {limit} MB 的上传上限：请发送较小的文件。",
        "auth": "接口拒绝了 API Key：请检查 OPENAI_API_KEY（或设置中的 Key）。",
        "model_not_found": "接口不认识模型“{model}”：请换一个模型，或检查 GLM_MODELS。",
        "bad_request": "接口拒绝了请求（通常是图片无法解析，或参数超出范围）：请换一张图片或调低最大回答长度。",
        "messages_illegal": "接口拒绝了对话格式：请清空对话后重新提问。",
        "model_forbidden": "此 API Key 无权使用模型“{model}”：请换一个模型，或为账户开通该模型。",
        "prompt_too_long": "对话内容超出了模型的长度上限：请清空对话或少发几张图片后重试。",
        "sensitive_input": "接口的内容审核拒绝了这个问题或图片：请换个说法或换一张图片。",
        "too_large": "请求体超过了接口或其前置代理的大小上限：请少发几张图片，或把图片清晰度改为“快速”。",
        "quota": "此 API Key 所属账户余额不足：请充值或换一个 Key。",
        "rate_limited": "接口繁忙或对此 Key 限流：请稍候再点重试。",
        "server_error": "接口内部出错：请稍后点重试。",
        "connect": "无法连接接口 {base_url}：请检查 OPENAI_BASE_URL 和网络后点重试。",
        "timeout_first": "接口没有及时开始回答：请点重试，或换一张较小的图片。",
        "stalled": "回答中断了（{seconds} 秒没有收到数据）：请点重试。",
        "dropped": "回答过程中与接口的连接断开了：请点重试。",
        "malformed": "接口返回了无法解析的数据：请点重试。",
        "stream_error": "接口在回答过程中报错：请点重试。",
        "no_choices": "接口没有返回回答：请点重试。",
        "unknown": "接口返回了错误：请点重试，或查看服务器日志。",
        "finish_length": "回答达到最大长度上限被截断：请在设置中调高后点重试，或发送“继续”。",
        "finish_sensitive": "接口的内容审核中止了这个回答。",
        "finish_network_error": "模型服务在回答过程中出现网络错误：请点重试。",
        "finish_context": "对话已占满模型的上下文窗口：请清空对话或少发几张图片。",
        "retrying": "接口繁忙，正在重试 {attempt}/{total}……",
        "interrupted": "已中断",
        "stopped": "已停止：上面是停止前收到的内容。点重试可重新提问。",
        "endpoint_said": "接口原话：{detail}",
        "stats": "提示 {prompt} + 回答 {completion} tokens · 首字 {ttft:.1f} 秒 · {tps:.0f} tokens/秒 · 共 {total:.1f} 秒",
        "stats_no_usage": "首字 {ttft:.1f} 秒 · 共 {total:.1f} 秒",
        "saw_title": "模型看到的：{count} 张图片，{size}，约 {tokens} 个图像 token",
        "saw_line": "{name}：{original} → {sent}",
        "saw_omitted": "之前轮次的 {count} 张图片没有再次发送（高级 → 之前轮次的图片，或模型上限）。",
        "note_rotated": "已按 EXIF 旋转",
        "note_converted": "已转换颜色模式",
        "note_first_frame": "取动图第一帧",
        "note_downscaled": "已缩小",
        "note_recompressed": "已重新编码",
        "note_unchanged": "按原文件发送",
        "note_metadata_removed": "按原文件发送，已去除位置和相机信息",
        "boxes_title": "回答中的 {count} 个框，已画在图上",
        "nothing_to_export": "对话是空的：请先提问。",
        "import_not_json": "这个文件不是对话导出文件（不是有效的 JSON）。",
        "import_wrong_format": "这个文件不是本应用导出的对话。",
        "import_newer_version": "这个文件由更新版本的应用导出：请先更新应用再导入。",
        "import_not_image": "文件中有一张图片无法读取：已拒绝导入。",
        "import_bad_name": "文件中有图片的文件名不安全：已拒绝导入。",
        "import_too_large": "文件太大，无法导入（图片超过 {limit_mb:.0f} MB）。",
        "image_missing": "“{name}”已不在服务器上（上传的文件会定期删除）：请重新添加。",
        "image_cannot_fit": "“{name}”无法压缩到 {limit_mb:g} MB 以下：请先裁剪或缩小。",
        "example_chart": "哪个季度收入最高？比上一季度增长了多少？",
        "example_receipt": "读一下这张收据：列出每一项和价格，并核对总额。",
        "example_diagram": "请逐步解释这张图。",
        "example_scene": "描述这个场景。现在大概是一天中的什么时候？",
    },
}


def language(accept_language: str | None) -> str:
    """'zh' when the browser prefers Chinese, else 'en'."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def say(lang: str, key: str, params: Mapping[str, object] | None = None) -> str:
    """The sentence for `key` in `lang`, placeholders filled; falls back to English."""
    table = MESSAGES.get(lang, MESSAGES["en"])
    template = table.get(key) or MESSAGES["en"].get(key) or MESSAGES["en"]["unknown"]
    values = _Params(params or {})
    for name, value in list(values.items()):  # English plurals: "{count} image{count_s}"
        if isinstance(value, int) and not isinstance(value, bool):
            values.setdefault(f"{name}_s", "" if value == 1 else "s")
    try:
        return template.format_map(values)
    except (IndexError, ValueError):
        return template


class _Params(dict):
    """Placeholders the caller did not fill render as "?" rather than failing."""

    def __missing__(self, key: str) -> str:
        return "?"
