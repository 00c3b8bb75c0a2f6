"""A simulator that echoes secrets in its error messages, as TikTok can (issue 14, defect 8): the access token
of the request, and the app secret of /oauth2/advertiser/get/, quoted in every non-zero envelope's message."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tiktok_assets.simulator import Simulator
from tiktok_assets.simulator.app import SimResponse


class EchoingSimulator(Simulator):
    echoed = 0

    def handle(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
               body: bytes) -> SimResponse:
        response = super().handle(method, path, query, headers, body)
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response
        try:
            payload = json.loads(response.body)
        except ValueError:
            return response  # a truncated body fault: nothing to echo into
        if payload.get("code", 0) == 0:
            return response
        token = {name.lower(): value for name, value in headers.items()}.get("access-token", "")
        echo = f" (access_token: {token}"
        if query.get("secret"):
            echo += f", secret: {query['secret']}"
        payload["message"] = f"{payload['message']}{echo})"
        self.echoed += 1
        return SimResponse(response.status, response.headers, json.dumps(payload).encode(), response.fault)
