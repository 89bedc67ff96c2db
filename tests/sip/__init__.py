"""SIP parser tests. The shared helpers get pytest's assert rewriting even when another test
package (tests/detect's fuzz test) imports them before tests/sip/conftest.py runs."""

import pytest

pytest.register_assert_rewrite(f"{__name__}._support", f"{__name__}._fuzz")
