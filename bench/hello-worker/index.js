// A hello-world Worker: the floor against which bench/edge-serve.py reads the Usher Worker's
// figures under workerd. It answers every request with 200 and a short body without reading
// anything, so what it costs per request is what workerd costs: accepting the request, the
// isolate's event, a Response and sending it. Not shipped, not a test fixture.
export default {
  fetch() {
    return new Response('hello\n', { headers: { 'content-type': 'text/plain' } });
  },
};
