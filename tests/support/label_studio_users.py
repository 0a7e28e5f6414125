"""People on a real Label Studio: a colleague who joins through the organization's invite link."""

from __future__ import annotations

import httpx
from label_studio_sdk import LabelStudio

SECOND_PASSWORD = "second-reviewer-pw-7431"


def sign_up(url: str, admin: LabelStudio, email: str) -> str:
    """A second user joins through the organization's invite link; their legacy API token (Label Studio
    makes it when the user is saved, by a model signal: a user made while its signals are off has none)."""
    invite = admin.organizations.invites.get_invite_link()
    token = str(invite.token)
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as browser:
        browser.get(f"/user/signup/?token={token}")
        answer = browser.post(
            f"/user/signup/?token={token}",
            data={
                "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
                "email": email,
                "password": SECOND_PASSWORD,
            },
            headers={"Referer": f"{url}/user/signup/"},
        )
        assert answer.status_code in (200, 302), answer.text[:500]
        key = browser.get("/api/current-user/token")
    assert key.status_code == 200, f"{email} has no API token: HTTP {key.status_code} {key.text[:300]}"
    return str(key.json()["token"])
