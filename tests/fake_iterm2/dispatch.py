"""One handler per iTerm2 API request: each builds the response the real app would send."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from iterm2 import api_pb2

from .invocation import InvocationError, evaluate, parse_invocation
from .layout import CELL_HEIGHT, CELL_WIDTH, Tab
from .server import GLOBAL_NOTIFICATIONS, Deferred, Registration, signature_of
from .state import SCOPE_APP, SCOPE_SESSION, SCOPE_TAB, SCOPE_WINDOW, RequestFailed

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from .server import ApiServer, ClientConnection
    from .state import FakeApp

Response = api_pb2.ServerOriginatedMessage
HandlerResult = Response | Awaitable[Response] | Deferred

_SUBSCRIBABLE = frozenset(api_pb2.NotificationType.values())
_SESSION_PROPERTIES = ("grid_size", "frame", "number_of_lines", "buried")
_DEFAULT_RPC_TIMEOUT = 5.0
_VERSIONED_FUNCTIONS = frozenset(
    {"move_session", "move_session_to_new_tab", "move_session_to_new_window", "apply_layout"}
)


def _ok(out: Message) -> None:
    out.status = type(out).Status.Value("OK")  # type: ignore[attr-defined]


def _attempt(out: Message, action: Callable[[], Any]) -> None:
    """Run an action; the response's status is OK, or the status named by the `RequestFailed` it raised."""
    try:
        action()
    except RequestFailed as failure:
        out.status = type(out).Status.Value(failure.status)  # type: ignore[attr-defined]
    else:
        _ok(out)


class RequestDispatcher:
    """Turns each ClientOriginatedMessage into the ServerOriginatedMessage iTerm2 would answer."""

    def __init__(self, app: FakeApp, server: ApiServer) -> None:
        self.app = app
        self.server = server
        self.tools: list[api_pb2.RegisterToolRequest] = []
        self.popovers: list[api_pb2.StatusBarComponentRequest] = []
        self.unread_counts: dict[str, int] = {}

    def handle(self, connection: ClientConnection, request: api_pb2.ClientOriginatedMessage) -> HandlerResult:
        kind = request.WhichOneof("submessage")
        handler = getattr(self, f"_{kind}", None) if kind else None
        if handler is None:
            return Response(error=f"the fake iTerm2 does not support {kind or 'an empty request'}")
        return handler(connection, getattr(request, kind))

    def _resolve(self, session_id: str) -> str:
        if session_id == "active":
            return self.app.active_session_id() or ""
        return session_id

    # --- hierarchy --------------------------------------------------------------------------------------

    def _list_sessions_request(self, _conn: ClientConnection, _req: api_pb2.ListSessionsRequest) -> Response:
        response = Response()
        response.list_sessions_response.SetInParent()
        self.app.list_sessions(response.list_sessions_response)
        return response

    def _create_tab_request(self, _conn: ClientConnection, req: api_pb2.CreateTabRequest) -> Response:
        response = Response()
        out = response.create_tab_response
        customizations = [(prop.key, prop.json_value) for prop in req.custom_profile_properties]
        if req.command:
            customizations += [("Custom Command", json.dumps("Yes")), ("Command", json.dumps(req.command))]

        def create() -> None:
            window, tab, session = self.app.create_tab(
                req.window_id or None,
                req.profile_name or None,
                customizations,
                index=req.tab_index if req.HasField("tab_index") else None,
                select=req.select_tab if req.HasField("select_tab") else True,
            )
            out.window_id, out.tab_id, out.session_id = window.window_id, int(tab.tab_id), session.session_id

        _attempt(out, create)
        return response

    def _split_pane_request(self, _conn: ClientConnection, req: api_pb2.SplitPaneRequest) -> Response:
        response = Response()
        out = response.split_pane_response

        def split() -> None:
            session = self.app.split(
                self._resolve(req.session),
                vertical=req.split_direction == api_pb2.SplitPaneRequest.VERTICAL,
                before=req.before,
                profile_name=req.profile_name or None,
                customizations=[(prop.key, prop.json_value) for prop in req.custom_profile_properties],
            )
            out.session_id.append(session.session_id)

        _attempt(out, split)
        return response

    def _close_request(self, _conn: ClientConnection, req: api_pb2.CloseRequest) -> Response:
        response = Response()
        out = response.close_response
        target = req.WhichOneof("target")
        if target == "sessions":
            ids, close = list(req.sessions.session_ids), self.app.close_session
        elif target == "tabs":
            ids, close = list(req.tabs.tab_ids), self.app.close_tab
        elif target == "windows":
            ids, close = list(req.windows.window_ids), self.app.close_window
        else:
            ids, close = [], self.app.close_session
        for identifier in ids:
            try:
                close(self._resolve(identifier))
            except RequestFailed:
                out.statuses.append(api_pb2.CloseResponse.NOT_FOUND)
            else:
                out.statuses.append(api_pb2.CloseResponse.OK)
        return response

    def _restart_session_request(self, _conn: ClientConnection, req: api_pb2.RestartSessionRequest) -> Response:
        response = Response()
        session_id = self._resolve(req.session_id)
        _attempt(response.restart_session_response, lambda: self.app.restart(session_id, req.only_if_exited))
        return response

    def _set_tab_layout_request(self, _conn: ClientConnection, req: api_pb2.SetTabLayoutRequest) -> Response:
        response = Response()
        _attempt(response.set_tab_layout_response, lambda: self.app.set_tab_layout(req.tab_id, req.root))
        return response

    # --- focus ------------------------------------------------------------------------------------------

    def _activate_request(self, _conn: ClientConnection, req: api_pb2.ActivateRequest) -> Response:
        response = Response()
        if req.WhichOneof("identifier") is None:
            # Activating the app only: it is always active here.
            _ok(response.activate_response)
            return response
        _attempt(response.activate_response, lambda: self.app.activate(req))
        return response

    def _focus_request(self, _conn: ClientConnection, _req: api_pb2.FocusRequest) -> Response:
        response = Response()
        response.focus_response.notifications.extend(self.app.focus_events())
        return response

    # --- input and output -------------------------------------------------------------------------------

    def _send_text_request(self, _conn: ClientConnection, req: api_pb2.SendTextRequest) -> Response:
        response = Response()
        session_id = self._resolve(req.session)
        _attempt(response.send_text_response, lambda: self.app.send_text(session_id, req.text, req.suppress_broadcast))
        return response

    def _inject_request(self, _conn: ClientConnection, req: api_pb2.InjectRequest) -> Response:
        response = Response()
        for session_id in req.session_id:
            session = self.app.sessions.get(self._resolve(session_id))
            if session is None:
                response.inject_response.status.append(api_pb2.InjectResponse.SESSION_NOT_FOUND)
            else:
                session.inject(req.data)
                response.inject_response.status.append(api_pb2.InjectResponse.OK)
        return response

    def _get_buffer_request(self, _conn: ClientConnection, req: api_pb2.GetBufferRequest) -> Response:
        response = Response()
        out = response.get_buffer_response
        session = self.app.sessions.get(self._resolve(req.session))
        if session is None:
            out.status = api_pb2.GetBufferResponse.SESSION_NOT_FOUND
            return response
        session.screen.fill_buffer_response(req.line_range, req.include_styles, out)
        _ok(out)
        return response

    def _get_prompt_request(self, _conn: ClientConnection, req: api_pb2.GetPromptRequest) -> Response:
        response = Response()
        exists = self._resolve(req.session) in self.app.sessions
        # No shell integration runs in the fake's sessions, so there is never a prompt to report.
        response.get_prompt_response.status = (
            api_pb2.GetPromptResponse.PROMPT_UNAVAILABLE if exists else api_pb2.GetPromptResponse.SESSION_NOT_FOUND
        )
        return response

    def _list_prompts_request(self, _conn: ClientConnection, req: api_pb2.ListPromptsRequest) -> Response:
        response = Response()
        exists = self._resolve(req.session) in self.app.sessions
        response.list_prompts_response.status = (
            api_pb2.ListPromptsResponse.OK if exists else api_pb2.ListPromptsResponse.SESSION_NOT_FOUND
        )
        return response

    def _transaction_request(self, _conn: ClientConnection, _req: api_pb2.TransactionRequest) -> Response:
        # Requests are handled one at a time per connection already.
        response = Response()
        _ok(response.transaction_response)
        return response

    # --- notifications ----------------------------------------------------------------------------------

    def _notification_request(self, conn: ClientConnection, req: api_pb2.NotificationRequest) -> Response:
        response = Response()
        response.notification_response.status = api_pb2.NotificationResponse.Status.Value(self._subscribe(conn, req))
        return response

    def _subscribe(self, conn: ClientConnection, req: api_pb2.NotificationRequest) -> str:
        kind = req.notification_type
        if kind not in _SUBSCRIBABLE:
            return "REQUEST_MALFORMED"
        if kind == api_pb2.NOTIFY_ON_SERVER_ORIGINATED_RPC:
            return self._register_rpc(conn, req)
        if kind == api_pb2.NOTIFY_ON_VARIABLE_CHANGE:
            if not req.HasField("variable_monitor_request"):
                return "REQUEST_MALFORMED"
            monitor = req.variable_monitor_request
            if not self._valid_monitor_target(monitor):
                return "INVALID_IDENTIFIER"
            return self._toggle(
                conn.variable_monitors, (monitor.scope, monitor.identifier, monitor.name), req.subscribe
            )
        session = req.session or "all"
        if kind in GLOBAL_NOTIFICATIONS:
            session = "all"
        elif session != "all" and session not in self.app.sessions:
            return "SESSION_NOT_FOUND"
        status = self._toggle(conn.subscriptions, (kind, session), req.subscribe)
        if kind == api_pb2.KEYSTROKE_FILTER:
            if req.subscribe and req.HasField("keystroke_filter_request"):
                conn.keystroke_filters[session] = list(req.keystroke_filter_request.patterns_to_ignore)
            elif not req.subscribe:
                conn.keystroke_filters.pop(session, None)
        return status

    @staticmethod
    def _toggle(subscriptions: set[Any], key: Any, subscribe: bool) -> str:
        if subscribe:
            if key in subscriptions:
                return "ALREADY_SUBSCRIBED"
            subscriptions.add(key)
            return "OK"
        if key not in subscriptions:
            return "NOT_SUBSCRIBED"
        subscriptions.discard(key)
        return "OK"

    def _valid_monitor_target(self, monitor: api_pb2.VariableMonitorRequest) -> bool:
        identifier = monitor.identifier
        if monitor.scope == SCOPE_APP:
            return True
        if identifier in ("all", "active"):
            return monitor.scope in (SCOPE_SESSION, SCOPE_WINDOW, SCOPE_TAB)
        if monitor.scope == SCOPE_SESSION:
            return identifier in self.app.sessions
        if monitor.scope == SCOPE_TAB:
            return self.app.find_tab(identifier) is not None
        return self.app.find_window(identifier) is not None

    def _register_rpc(self, conn: ClientConnection, req: api_pb2.NotificationRequest) -> str:
        if not req.HasField("rpc_registration_request"):
            return "REQUEST_MALFORMED"
        rpc = api_pb2.RPCRegistrationRequest()
        rpc.CopyFrom(req.rpc_registration_request)
        signature = signature_of(rpc)
        if not req.subscribe:
            return "OK" if conn.rpcs.pop(signature, None) is not None else "NOT_SUBSCRIBED"
        if signature in conn.rpcs:
            return "ALREADY_SUBSCRIBED"
        if any(signature in other.rpcs for other in self.server.connections if other is not conn):
            return "DUPLICATE_SERVER_ORIGINATED_RPC"
        conn.rpcs[signature] = rpc
        self.server.registrations.append(Registration(conn.name, rpc))
        return "OK"

    def _server_originated_rpc_result_request(
        self, _conn: ClientConnection, req: api_pb2.ServerOriginatedRPCResultRequest
    ) -> Response:
        self.server.rpc_result(req)
        response = Response()
        response.server_originated_rpc_result_response.SetInParent()
        return response

    # --- profiles ---------------------------------------------------------------------------------------

    def _set_profile_property_request(
        self, _conn: ClientConnection, req: api_pb2.SetProfilePropertyRequest
    ) -> Response:
        response = Response()
        out = response.set_profile_property_response
        assignments = [(a.key, a.json_value) for a in req.assignments]
        if req.key:
            assignments.append((req.key, req.json_value))
        if not assignments:
            out.status = api_pb2.SetProfilePropertyResponse.REQUEST_MALFORMED
            return response
        if req.WhichOneof("target") == "guid_list":
            _attempt(out, lambda: self.app.set_shared_profile_properties(list(req.guid_list.guids), assignments))
        else:
            session_id = self._resolve(req.session)
            _attempt(out, lambda: self.app.set_profile_properties(session_id, assignments))
        return response

    def _get_profile_property_request(
        self, _conn: ClientConnection, req: api_pb2.GetProfilePropertyRequest
    ) -> Response:
        response = Response()
        out = response.get_profile_property_response
        session = self.app.sessions.get(self._resolve(req.session))
        if session is None:
            out.status = api_pb2.GetProfilePropertyResponse.SESSION_NOT_FOUND
            return response
        _add_properties(out.properties, session.profile, list(req.keys))
        _ok(out)
        return response

    def _list_profiles_request(self, _conn: ClientConnection, req: api_pb2.ListProfilesRequest) -> Response:
        response = Response()
        response.list_profiles_response.SetInParent()
        guids = set(req.guids)
        for profile in self.app.profiles.values():
            if guids and profile["Guid"] not in guids:
                continue
            _add_properties(response.list_profiles_response.profiles.add().properties, profile, list(req.properties))
        return response

    def _preferences_request(self, _conn: ClientConnection, req: api_pb2.PreferencesRequest) -> Response:
        response = Response()
        response.preferences_response.SetInParent()
        for request in req.requests:
            result = response.preferences_response.results.add()
            which = request.WhichOneof("request")
            if which == "get_preference_request":
                value = self.app.preferences.get(request.get_preference_request.key)
                result.get_preference_result.json_value = json.dumps(value)
            elif which == "set_preference_request":
                out = result.set_preference_result
                try:
                    self.app.preferences[request.set_preference_request.key] = json.loads(
                        request.set_preference_request.json_value
                    )
                except ValueError:
                    out.status = out.BAD_JSON
                else:
                    out.status = out.OK
            elif which == "get_default_profile_request":
                result.get_default_profile_result.guid = self.app.profiles[self.app.default_profile_name]["Guid"]
            elif which == "set_default_profile_request":
                guid = request.set_default_profile_request.guid
                names = [name for name, profile in self.app.profiles.items() if profile["Guid"] == guid]
                if names:
                    self.app.default_profile_name = names[0]
                    result.set_default_profile_result.status = (
                        api_pb2.PreferencesResponse.Result.SetDefaultProfileResult.OK
                    )
                else:
                    result.set_default_profile_result.status = (
                        api_pb2.PreferencesResponse.Result.SetDefaultProfileResult.BAD_GUID
                    )
            else:
                result.unrecognized_request.SetInParent()
        return response

    # --- variables and properties -----------------------------------------------------------------------

    def _variable_request(self, _conn: ClientConnection, req: api_pb2.VariableRequest) -> Response:
        response = Response()
        out = response.variable_response
        scope = req.WhichOneof("scope")
        if scope is None:
            out.status = api_pb2.VariableResponse.MISSING_SCOPE
            return response
        identifier = self._resolve(getattr(req, scope)) if scope != "app" else ""

        def run() -> None:
            assignments = []
            for item in req.set:
                try:
                    assignments.append((item.name, json.loads(item.value)))
                except ValueError:
                    raise RequestFailed("INVALID_NAME") from None
            if assignments:
                self.app.set_variables(scope, identifier, assignments)
            values = self.app.get_variables(scope, identifier, list(req.get))
            out.values.extend(json.dumps(value) for value in values)

        _attempt(out, run)
        return response

    def _get_property_request(self, _conn: ClientConnection, req: api_pb2.GetPropertyRequest) -> Response:
        response = Response()
        out = response.get_property_response
        value: Any = None
        if req.WhichOneof("identifier") == "window_id":
            window = self.app.find_window(req.window_id)
            if window is None:
                out.status = api_pb2.GetPropertyResponse.INVALID_TARGET
                return response
            properties = {"frame": window.frame_dict(), "fullscreen": False, "number": window.number}
        else:
            session = self.app.sessions.get(self._resolve(req.session_id))
            if session is None:
                out.status = api_pb2.GetPropertyResponse.INVALID_TARGET
                return response
            screen = session.screen
            _, tab, _ = self.app.find_session(session.session_id)
            geometry = tab.geometry.get(session.session_id) if tab else None
            x, y = (geometry.x, geometry.y) if geometry else (0, 0)
            properties = {
                "grid_size": {"width": session.columns, "height": session.rows},
                "frame": {
                    "origin": {"x": x * CELL_WIDTH, "y": y * CELL_HEIGHT},
                    "size": {"width": session.columns * CELL_WIDTH, "height": session.rows * CELL_HEIGHT},
                },
                "number_of_lines": {
                    "grid": screen.lines,
                    "history": len(screen.history.top),
                    "overflow": screen.first_line,
                    "first_visible": screen.lines_scrolled,
                },
                "buried": session.session_id in self.app.buried,
            }
        if req.name not in properties:
            out.status = api_pb2.GetPropertyResponse.UNRECOGNIZED_NAME
            return response
        value = properties[req.name]
        out.json_value = json.dumps(value)
        _ok(out)
        return response

    def _set_property_request(self, _conn: ClientConnection, req: api_pb2.SetPropertyRequest) -> Response:
        response = Response()
        out = response.set_property_response
        try:
            value = json.loads(req.json_value)
        except ValueError:
            out.status = api_pb2.SetPropertyResponse.INVALID_VALUE
            return response
        if req.WhichOneof("identifier") == "window_id":
            _attempt(out, lambda: self._set_window_property(req.window_id, req.name, value))
        else:
            _attempt(out, lambda: self._set_session_property(self._resolve(req.session_id), req.name, value))
        return response

    def _set_window_property(self, window_id: str, name: str, value: Any) -> None:
        window = self.app.find_window(window_id)
        if window is None:
            raise RequestFailed("INVALID_TARGET")
        if name == "frame":
            try:
                size = value["size"]
                columns, rows = int(size["width"]) // CELL_WIDTH, int(size["height"]) // CELL_HEIGHT
            except (KeyError, TypeError, ValueError):
                raise RequestFailed("INVALID_VALUE") from None
            self.app.resize_window(window, columns, rows)
        elif name != "fullscreen":
            raise RequestFailed("UNRECOGNIZED_NAME")

    def _set_session_property(self, session_id: str, name: str, value: Any) -> None:
        if session_id not in self.app.sessions:
            raise RequestFailed("INVALID_TARGET")
        if name == "buried":
            # iTerm2 takes any JSON number (`[NSNumber castFrom:value]`, iTermAPIHelper.m `setBuried`).
            if not isinstance(value, bool | int | float):
                raise RequestFailed("INVALID_VALUE")
            self.app.set_buried(session_id, bool(value))
        elif name == "grid_size":
            window, tab, _ = self.app.find_session(session_id)
            if window is None or tab is None:
                raise RequestFailed("INVALID_TARGET")
            if len(tab.panes()) != 1:
                raise RequestFailed("IMPOSSIBLE")  # iTerm2 sizes split panes through the tab layout instead
            try:
                columns, rows = int(value["width"]), int(value["height"])
            except (KeyError, TypeError, ValueError):
                raise RequestFailed("INVALID_VALUE") from None
            self.app.resize_window(window, columns, rows)
        else:
            raise RequestFailed("UNRECOGNIZED_NAME")

    # --- broadcast, arrangements, tools -----------------------------------------------------------------

    def _get_broadcast_domains_request(
        self, _conn: ClientConnection, _req: api_pb2.GetBroadcastDomainsRequest
    ) -> Response:
        response = Response()
        response.get_broadcast_domains_response.SetInParent()
        for domain in self.app.broadcast_domains:
            response.get_broadcast_domains_response.broadcast_domains.add().session_ids.extend(domain)
        return response

    def _set_broadcast_domains_request(
        self, _conn: ClientConnection, req: api_pb2.SetBroadcastDomainsRequest
    ) -> Response:
        response = Response()
        domains = [list(domain.session_ids) for domain in req.broadcast_domains]

        def apply() -> None:
            for domain in domains:
                if any(session_id not in self.app.sessions for session_id in domain):
                    raise RequestFailed("SESSION_NOT_FOUND")
            self.app.set_broadcast_domains(domains)

        _attempt(response.set_broadcast_domains_response, apply)
        return response

    def _saved_arrangement_request(self, _conn: ClientConnection, req: api_pb2.SavedArrangementRequest) -> Response:
        """As `-apiServerSavedArrangement:handler:` in sources/API/iTermAPIHelper.m: LIST answers every name
        (`-listSavedArrangementsWithHandler:`), SAVE one window or all (`-saveArrangementNamed:windowID:handler:`,
        WINDOW_NOT_FOUND for an unknown window), RESTORE in new windows or as tabs of one
        (`-restoreArrangementNamed:windowID:handler:`: the window is checked before the name)."""
        response = Response()
        out = response.saved_arrangement_response
        action = api_pb2.SavedArrangementRequest.Action.Name(req.action)
        window_id = req.window_id or None
        if action == "LIST":
            out.names.extend(sorted(self.app.arrangements))
            _ok(out)
        elif not req.name:
            out.status = api_pb2.SavedArrangementResponse.REQUEST_MALFORMED
        elif action == "SAVE":
            _attempt(out, lambda: self.app.save_arrangement(req.name, window_id))
        else:
            _attempt(out, lambda: self.app.restore_arrangement(req.name, window_id))
        return response

    def _register_tool_request(self, _conn: ClientConnection, req: api_pb2.RegisterToolRequest) -> Response:
        response = Response()
        tool = api_pb2.RegisterToolRequest()
        tool.CopyFrom(req)
        self.tools.append(tool)
        _ok(response.register_tool_response)
        return response

    def _status_bar_component_request(
        self, _conn: ClientConnection, req: api_pb2.StatusBarComponentRequest
    ) -> Response:
        response = Response()
        known = {r.request.status_bar_component_attributes.unique_identifier for r in self.server.registrations}
        if req.identifier not in known:
            response.status_bar_component_response.status = api_pb2.StatusBarComponentResponse.INVALID_IDENTIFIER
            return response
        popover = api_pb2.StatusBarComponentRequest()
        popover.CopyFrom(req)
        self.popovers.append(popover)
        _ok(response.status_bar_component_response)
        return response

    # --- functions --------------------------------------------------------------------------------------

    def _invoke_function_request(self, _conn: ClientConnection, req: api_pb2.InvokeFunctionRequest) -> HandlerResult:
        context = req.WhichOneof("context")
        receiver = {
            "session": req.session.session_id,
            "tab": req.tab.tab_id,
            "window": req.window.window_id,
            "method": req.method.receiver,
        }.get(context or "", "")
        receiver = self._resolve(receiver)
        try:
            name, raw_arguments = parse_invocation(req.invocation)
            arguments = evaluate(raw_arguments, lambda path: self.lookup(receiver, path))
        except (InvocationError, RequestFailed) as error:
            return _invocation_error("REQUEST_MALFORMED", str(error))
        builtin = getattr(self, "_fn_" + name.removeprefix("iterm2.").replace(".", "_"), None)
        if name.removeprefix("iterm2.") in _VERSIONED_FUNCTIONS - self.app.build.functions:
            builtin = None  # this build has no such function
        if name.startswith("iterm2.") and builtin is not None:
            try:
                return _invocation_result(builtin(receiver, **arguments))
            except (RequestFailed, TypeError, KeyError, ValueError) as error:
                return _invocation_error("FAILED", f"{name}: {error}")
        registered = self.server.registration_for(name)
        if registered is None:
            return _invocation_error("FAILED", f"no function named {name}")
        connection, rpc = registered
        timeout = req.timeout if req.timeout > 0 else (rpc.timeout or _DEFAULT_RPC_TIMEOUT)
        return Deferred(self._call_registered(connection, rpc, arguments, timeout))

    async def _call_registered(
        self,
        connection: ClientConnection,
        rpc: api_pb2.RPCRegistrationRequest,
        arguments: dict[str, Any],
        timeout: float,
    ) -> Response:
        try:
            result = await self.call_registered(connection, rpc, arguments, timeout)
        except TimeoutError:
            return _invocation_error("TIMEOUT", f"{rpc.name} did not answer in {timeout}s")
        except RuntimeError as error:
            return _invocation_error("FAILED", str(error))
        return _invocation_result(result)

    async def call_registered(
        self,
        connection: ClientConnection,
        rpc: api_pb2.RPCRegistrationRequest,
        arguments: dict[str, Any],
        timeout: float,
    ) -> Any:
        """Run a client's registered function; its exception becomes a RuntimeError."""
        result = await self.server.invoke(
            connection, rpc, {name: json.dumps(value) for name, value in arguments.items()}, timeout
        )
        if result.WhichOneof("result") == "json_exception":
            raise RuntimeError(f"{rpc.name} failed: {result.json_exception}")
        return json.loads(result.json_value) if result.json_value else None

    def lookup(self, receiver: str, path: str) -> Any:
        """A variable in the receiver's scope (a session, tab or window id), else in the app's.

        `iterm2.` names the app's scope from anywhere; a trailing `?` (optional) is ignored here.
        """
        path = path.removesuffix("?")
        if path.startswith("iterm2."):
            return self.app.get_variables("app", "", [path.removeprefix("iterm2.")])[0]
        if receiver in self.app.sessions:
            return self.app.get_variables("session_id", receiver, [path])[0]
        if self.app.find_tab(receiver):
            return self.app.get_variables("tab_id", receiver, [path])[0]
        if self.app.find_window(receiver):
            return self.app.get_variables("window_id", receiver, [path])[0]
        return self.app.get_variables("app", "", [path])[0]

    def _fn_set_name(self, receiver: str, name: str) -> None:
        self.app.rename_session(receiver, name)

    def _fn_set_title(self, receiver: str, title: str) -> None:
        found = self.app.find_tab(receiver)
        window = found[0] if found else self.app.find_window(receiver)
        if window is None:
            raise RequestFailed("INVALID_ID")
        if found:
            found[1].title = title
        else:
            window.title = title
        self.app.notifier.changed()

    def _fn_select_pane_in_direction(self, receiver: str, direction: str) -> str | None:
        found = self.app.find_tab(receiver)
        if found is None or found[1].active_session_id is None:
            raise RequestFailed("INVALID_ID")
        tab = found[1]
        neighbour = _neighbour(tab, tab.active_session_id, direction)
        if neighbour is not None:
            self.app.focus_session(neighbour)
        return neighbour

    def _fn_move_session(self, _receiver: str, session: str, destination: str, vertical: bool, before: bool) -> None:
        self.app.move_session(session, destination, vertical, before)

    def _fn_move_session_to_new_tab(
        self, _receiver: str, session: str, window_id: str | None = None, tab_index: int | None = None
    ) -> str:
        return self.app.move_session_to_new_tab(session, window_id, tab_index)

    def _fn_move_session_to_new_window(self, _receiver: str, session: str) -> str:
        return self.app.move_session_to_new_window(session)

    def _fn_apply_layout(self, _receiver: str, spec_json_b64: str) -> None:
        self.app.apply_layout(json.loads(base64.b64decode(spec_json_b64)))

    def _fn_set_status_bar_component_unread_count(self, _receiver: str, identifier: str, count: int) -> None:
        self.unread_counts[identifier] = count


def _add_properties(out: Any, profile: dict[str, Any], keys: list[str]) -> None:
    for key in keys or list(profile):
        if key in profile:
            out.add(key=key, json_value=json.dumps(profile[key]))


def _invocation_result(value: Any) -> Response:
    response = Response()
    response.invoke_function_response.success.json_result = json.dumps(value)
    return response


def _invocation_error(status: str, reason: str) -> Response:
    response = Response()
    error = response.invoke_function_response.error
    error.status = api_pb2.InvokeFunctionResponse.Status.Value(status)
    error.error_reason = reason
    return response


def _neighbour(tab: Tab, session_id: str, direction: str) -> str | None:
    """The pane next to `session_id` in a direction (left/right/above/below), overlapping it the most."""
    here = tab.geometry.get(session_id)
    if here is None:
        return None
    best, best_overlap = None, 0
    for other_id, there in tab.geometry.items():
        if other_id == session_id:
            continue
        if direction in ("left", "right"):
            adjacent = (
                there.x + there.columns + 1 == here.x if direction == "left" else here.x + here.columns + 1 == there.x
            )
            overlap = min(here.y + here.rows, there.y + there.rows) - max(here.y, there.y)
        else:
            adjacent = there.y + there.rows + 1 == here.y if direction == "above" else here.y + here.rows + 1 == there.y
            overlap = min(here.x + here.columns, there.x + there.columns) - max(here.x, there.x)
        if adjacent and overlap > best_overlap:
            best, best_overlap = other_id, overlap
    return best
