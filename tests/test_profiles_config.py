"""Model profiles and settings: names, overrides, limits, and config errors that say how to fix."""

from __future__ import annotations

import pytest

from ui.profiles import PERMISSIVE, parse_overrides, profile_for
from ui.settings import ConfigError, Secret, Settings


@pytest.mark.parametrize("name", ["GLM-4V-Plus", "glm-4v-plus", "zhipu/GLM-4V-PLUS"])
def test_profiles_match_case_insensitively_and_without_proxy_prefix(name):
    profile = profile_for(name)
    assert profile.known and profile.max_images == 5 and profile.data_url is False


def test_each_known_model_follows_the_facts_sheet():
    assert profile_for("glm-4v-flash").base64 is False
    assert profile_for("glm-4v-flash").max_tokens_cap == 1024
    assert profile_for("glm-4v").max_images == 1
    assert profile_for("glm-4.5v").thinking == "optional" and profile_for("glm-4.5v").data_url
    assert profile_for("glm-4.1v-thinking-flash").thinking == "always"
    assert profile_for("glm-4.6v").max_tokens_cap == 32768


def test_unknown_models_get_a_permissive_profile():
    profile = profile_for("gpt-4o")
    assert not profile.known and profile.max_images is None and profile.data_url
    assert profile.temperature_max == PERMISSIVE.temperature_max == 2.0
    assert profile.greedy_at_zero is False


def test_overrides_change_any_field_for_a_proxy_that_behaves_differently():
    overrides = parse_overrides("GLM-4V-Plus:data_url=true,max_images=10; my-model:base64=false")
    plus = profile_for("glm-4v-plus", overrides)
    assert plus.data_url is True and plus.max_images == 10
    assert profile_for("my-model", overrides).base64 is False


@pytest.mark.parametrize("text", ["glm-4v:colour=red", "glm-4v:max_images=lots",
                                  "glm-4v:base64=maybe", "glm-4v:thinking=sometimes"])
def test_bad_overrides_name_the_problem(text):
    with pytest.raises(ValueError, match="GLM_MODEL_PROFILES"):
        parse_overrides(text)


def test_clamping_keeps_values_in_the_model_range():
    plus = profile_for("glm-4v-plus")
    assert plus.clamp_temperature(1.7) == 1.0 and plus.clamp_temperature(-1) == 0.0
    assert plus.clamp_max_tokens(50_000, 100_000) == 8192
    assert profile_for("gpt-4o").clamp_max_tokens(50_000, 4096) == 4096


def test_defaults_follow_the_users_api_description():
    settings = Settings.from_env({})
    assert settings.models == ("GLM-4V-Plus", "GLM-4V")
    assert settings.base_url == "https://open.bigmodel.cn/api/paas/v4"
    assert settings.temperature == 0.7 and not settings.has_key


def test_model_list_and_default_come_from_the_environment():
    settings = Settings.from_env({"GLM_MODELS": " glm-4.5v , glm-4v-plus-0111,", "GLM_DEFAULT_MODEL":
                                  "glm-4.6v", "OPENAI_BASE_URL": "https://proxy.example/v1/"})
    assert settings.models == ("glm-4.6v", "glm-4.5v", "glm-4v-plus-0111")
    assert settings.default_model == "glm-4.6v"
    assert settings.base_url == "https://proxy.example/v1"


@pytest.mark.parametrize(("env", "words"), [
    ({"GLM_TEMPERATURE": "hot"}, "GLM_TEMPERATURE='hot' is not a number"),
    ({"GLM_MAX_TOKENS": "0"}, "GLM_MAX_TOKENS=0 is out of range"),
    ({"GLM_BYOK": "perhaps"}, "GLM_BYOK='perhaps': use true or false"),
    ({"GLM_IMAGE_QUALITY": "ultra"}, "use one of fast, balanced, max"),
    ({"GLM_PRESET": "azure"}, "GLM_PRESET='azure'"),
])
def test_bad_settings_say_which_variable_and_how_to_fix(env, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        Settings.from_env(env)


def test_the_key_never_shows_in_a_repr():
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-secret-value-123"})
    assert "sk-secret" not in repr(settings) and "sk-secret" not in repr(settings.api_key)
    assert isinstance(settings.api_key, Secret) and settings.has_key


def test_app_exits_with_one_line_on_a_bad_setting(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "GLM_TEMPERATURE": "hot",
                                 "GRADIO_TEMP_DIR": str(tmp_path), "HOME": str(tmp_path)},
                            timeout=120)
    assert result.returncode != 0
    assert "Configuration error: GLM_TEMPERATURE='hot' is not a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_model_profiles_are_a_config_error_at_start():
    with pytest.raises(ConfigError, match="GLM_MODEL_PROFILES: unknown field 'colour'"):
        Settings.from_env({"GLM_MODEL_PROFILES": "glm-4v:colour=red"})
