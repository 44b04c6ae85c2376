"""The console's routes, all under /console."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from telephonist.console import live, pages, phones, softphone

P = "/console"
routes: list[BaseRoute] = [
    Route(P, pages.dashboard, methods=["GET"]),
    Route(f"{P}/signin", pages.signin_form, methods=["GET"]),
    Route(f"{P}/signin", pages.signin, methods=["POST"]),
    Route(f"{P}/signout", pages.signout, methods=["POST"]),
    Route(f"{P}/live", live.live, methods=["GET"]),
    Route(f"{P}/calls", pages.call_list, methods=["GET"]),
    Route(f"{P}/calls/{{sid}}", pages.call_page, methods=["GET"]),
    Route(f"{P}/messages", pages.message_list, methods=["GET"]),
    Route(f"{P}/messages/{{sid}}", pages.message_page, methods=["GET"]),
    Route(f"{P}/numbers", pages.number_list, methods=["GET"]),
    Route(f"{P}/numbers", pages.number_add, methods=["POST"]),
    Route(f"{P}/numbers/{{sid}}", pages.number_page, methods=["GET"]),
    Route(f"{P}/numbers/{{sid}}", pages.number_update, methods=["POST"]),
    Route(f"{P}/numbers/{{sid}}/delete", pages.number_delete, methods=["POST"]),
    Route(f"{P}/phones", phones.phone_list, methods=["GET"]),
    Route(f"{P}/phones/calls/{{sid}}", phones.call_state, methods=["GET"]),
    Route(f"{P}/phones/calls/{{sid}}/{{action}}", phones.call_action, methods=["POST"]),
    Route(f"{P}/phones/{{number}}", phones.phone_page, methods=["GET"]),
    Route(f"{P}/phones/{{number}}/{{action}}", phones.phone_action, methods=["POST"]),
    Route(f"{P}/softphone", softphone.softphone_page, methods=["GET"]),
    Route(f"{P}/softphone/token", softphone.softphone_token, methods=["POST"]),
    Route(f"{P}/debugger", pages.debugger, methods=["GET"]),
    Route(f"{P}/account", pages.account_page, methods=["GET"]),
    Route(f"{P}/account/token", pages.reveal_token, methods=["POST"]),
    Route(f"{P}/account/subaccounts", pages.add_subaccount, methods=["POST"]),
    Route(f"{P}/account/keys", pages.add_key, methods=["POST"]),
    Mount(f"{P}/static", StaticFiles(packages=[("telephonist.console", "static")]), name="console-static"),
]
