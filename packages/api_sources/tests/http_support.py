"""A requests transport adapter that answers from a script, for the HTTP client's unit tests (retry
decisions and timeouts, without a server; the real simulator has its own tests)."""

import requests


class StubAdapter(requests.adapters.BaseAdapter):
    """Answers from a list of (status, headers, body) in order; records the timeout of each request."""

    def __init__(self, answers):
        super().__init__()
        self.answers, self.timeouts = list(answers), []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.timeouts.append(timeout)
        status, headers, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url, request
        response.headers.update({"Content-Type": "application/json", **headers})
        response._content = body
        response.reason = {200: "OK", 403: "Forbidden", 503: "Service Unavailable"}.get(status, "")
        return response

    def close(self):
        pass
