"""Let pytest rewrite the asserts in the shared helpers too, so their failures show values."""

import pytest

pytest.register_assert_rewrite(f"{__package__}._support" if __package__ else "_support")
