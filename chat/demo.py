"""
The built-in demo model: an OpenAI-compatible endpoint served by the product itself, so that
a fresh install answers with no API key and no network, through exactly the same relay as a
real provider. It does not think; it streams a fixed reply that shows what the page can render.
"""

import asyncio
import json
import re
import time

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat.upstream import DEMO_MODEL, demo_api_key

CJK = re.compile(r"[\u3400-\u9fff]")

REPLY_EN = """This is the **demo model**, built into this server so that it works without an API key. \
It does not understand your message; it shows how answers look.

You wrote: “{prompt}”

To talk to a real model, set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for DeepSeek, Qwen, Moonshot, \
Ollama or vLLM) in `.env` and restart. Answers can contain:

1. Lists and **emphasis**
2. Tables:

| Provider | Base URL |
| --- | --- |
| OpenAI | `https://api.openai.com/v1` |
| DeepSeek | `https://api.deepseek.com` |

3. Code:

```python
def greet(name):
    return f"Hello, {{name}}!"
```

4. Math: $E = mc^2$ and $$\\int_0^1 x^2\\,dx = \\frac{{1}}{{3}}$$
"""

REPLY_ZH = """这是**演示模型**，内置在本服务器中，无需 API 密钥即可使用。\
它并不理解你的消息，只用来展示回答的样子。

你写道：“{prompt}”

要与真正的模型对话，请在 `.env` 中设置 `OPENAI_API_KEY`（DeepSeek、通义千问、Moonshot、Ollama 或 vLLM \
还需设置 `OPENAI_BASE_URL`），然后重启。回答可以包含：

1. 列表和**强调**
2. 表格：

| 服务商 | Base URL |
| --- | --- |
| DeepSeek | `https://api.deepseek.com` |
| 通义千问 | `https://dashscope.aliyuncs.com/compatible-mode/v1` |

3. 代码：

```python
def greet(name):
    return f"你好，{{name}}！"
```

4. 公式：$E = mc^2$ 以及 $$\\int_0^1 x^2\\,dx = \\frac{{1}}{{3}}$$
"""


def reply_for(prompt):
    prompt = " ".join(prompt.split())
    if len(prompt) > 200:
        prompt = prompt[:200] + "…"
    template = REPLY_ZH if CJK.search(prompt) else REPLY_EN
    return template.format(prompt=prompt)


def tokens(text):
    """Word-sized pieces, as a model would stream them (CJK characters two at a time)."""
    return re.findall(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]{1,2}|\s*[^\s\u3400-\u9fff]+\s*|\s+", text)


def _authorized(request):
    return request.headers.get("Authorization", "") == f"Bearer {demo_api_key()}"


@csrf_exempt
@require_POST
async def chat_completions(request):
    if not _authorized(request):
        return JsonResponse({"error": {"message": "Invalid API key.", "type": "invalid_request_error"}}, status=401)
    try:
        body = json.loads(request.body)
        messages = body["messages"]
        prompt = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return JsonResponse(
            {"error": {"message": "Invalid request body.", "type": "invalid_request_error"}}, status=400
        )
    if body.get("model") != DEMO_MODEL:
        return JsonResponse({"error": {"message": "The model does not exist.", "code": "model_not_found"}}, status=404)
    pieces = tokens(reply_for(prompt if isinstance(prompt, str) else ""))
    if not body.get("stream"):
        return JsonResponse(_completion(pieces))
    usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response = StreamingHttpResponse(_stream(pieces, usage), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


def _base():
    return {"id": f"chatcmpl-demo{time.time_ns()}", "created": int(time.time()), "model": DEMO_MODEL}


def _completion(pieces):
    return {
        **_base(),
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "".join(pieces)}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": len(pieces), "total_tokens": len(pieces)},
    }


async def _stream(pieces, usage):
    base = {**_base(), "object": "chat.completion.chunk"}

    def chunk(delta, finish_reason=None, **extra):
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces:
        await asyncio.sleep(settings.DEMO_TOKEN_DELAY)
        yield chunk({"content": piece})
    yield chunk({}, "stop")
    if usage:
        counts = {"prompt_tokens": 0, "completion_tokens": len(pieces), "total_tokens": len(pieces)}
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': counts})}\n\n".encode()
    yield b"data: [DONE]\n\n"


@require_GET
def models(request):
    if not _authorized(request):
        return JsonResponse({"error": {"message": "Invalid API key."}}, status=401)
    return JsonResponse({"object": "list", "data": [{"id": DEMO_MODEL, "object": "model", "owned_by": "demo"}]})
