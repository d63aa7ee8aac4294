package localaws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// MotoVersion is the exact moto release fedgate is tested against.
const MotoVersion = "5.2.1"

// ErrNoMoto explains how to get moto when no interpreter has it.
var ErrNoMoto = fmt.Errorf("no python3 with moto %s found: install moto[server]==%s into the pyenv Python "+
	"(or any python3 on PATH), or set FEDGATE_MOTO_PYTHON to an interpreter that has it", MotoVersion, MotoVersion)

// FindPython returns an interpreter that imports moto at MotoVersion: the one
// named by FEDGATE_MOTO_PYTHON, python3 on PATH, then the pyenv shims and
// versions (Debian's /usr/bin/python3 has no moto).
func FindPython() (string, error) {
	var candidates []string
	if p := os.Getenv("FEDGATE_MOTO_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if home, err := os.UserHomeDir(); err == nil {
			root = filepath.Join(home, ".pyenv")
		}
	}
	if root != "" {
		candidates = append(candidates, filepath.Join(root, "shims", "python3"))
		versions, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
		candidates = append(candidates, versions...)
	}
	check := fmt.Sprintf("import moto, sys; sys.exit(0 if moto.__version__ == %q else 3)", MotoVersion)
	for _, c := range candidates {
		cmd := exec.Command(c, "-c", check)
		cmd.Env = append(os.Environ(), "PYENV_VERSION=") // let the shim pick its global version
		if cmd.Run() == nil {
			return c, nil
		}
	}
	return "", ErrNoMoto
}

// launcher runs moto.server's main with a few changes, none of which alters
// what an API call answers:
//
//   - DynamoDB requests are served one at a time. moto's server is threaded
//     and its DynamoDB backend has no lock, so two concurrent conditional
//     writes to one item can both succeed, which DynamoDB never allows;
//     serializing them restores the atomicity that fedgate's state
//     transitions rely on. SQS and KMS stay concurrent, so long polls do not
//     block anything.
//   - TransactWriteItems honours ClientRequestToken as DynamoDB does: the
//     SDK fills one in and keeps it across its retries, so a retried
//     transaction whose first answer was lost (a reset connection) gets the
//     first answer again instead of being applied twice, which moto would
//     answer with TransactionCanceled. The same token with other items is
//     IdempotentParameterMismatchException. Tokens live 10 minutes.
//   - moto finds the backend of every request by listing its own package
//     directory and stat-ing each of its ~170 entries, under a global lock;
//     every stat hands the GIL to another thread, so with a few dozen busy
//     threads one request waited hundreds of milliseconds. The list is read
//     once.
//   - werkzeug logs every request through a colorama-wrapped stream: only
//     warnings and errors are logged.
//   - an SQS queue's visible, delayed and in-flight messages are found by
//     reading the clock through datetime twice per message, several times per
//     SendMessage and ReceiveMessage (queue attributes are recomputed on each
//     access); with the thousands of delayed retry jobs of a long peer
//     outage that made every receive cost tens of milliseconds. The same
//     comparisons read time.time() once per pass.
//   - connections are kept alive (HTTP/1.1). werkzeug's development server
//     ends every answer with Connection: close, so every SDK call dialled a
//     new connection (a quarter of the incoming-event path's CPU) and left a
//     socket in TIME_WAIT. It closes them because it cannot tell where a
//     request ends when the application leaves part of its body unread, so
//     it drains the socket for 10 ms after each answer, which on a kept
//     connection would swallow the client's next request. Here every request
//     body is read whole and every answer is buffered whole and carries its
//     Content-Length before anything is sent; only then is the connection
//     kept, and the drain is skipped. Anything that fails before that (an
//     unparsable request, moto raising) still closes the connection. An
//     answer's head and body leave in one write, so a client has read the
//     whole of a small answer with its head (see config.go for the race that
//     needs this of clients other than Config's).
//   - a long poll (ReceiveMessage with WaitTimeSeconds) whose client hung up
//     ends instead of waiting out its time: moto would otherwise take the
//     next message sent to the queue, mark it received and write it to the
//     closed connection, hiding it for a visibility timeout. The local
//     pollers wait 20 s, as event source mappings do, and cancel the call on
//     shutdown.
//
// Measured with make soak (1,000 events): before, 400 events were not yet
// published after 13 minutes, with moto's one core saturated; after, the
// whole run took 13 minutes.
const launcher = `
import functools, io, json, logging, select, socket, sys, threading, time
from moto import backends, server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs import models as sqs
from werkzeug import serving

_call, _lock = DomainDispatcherApplication.__call__, threading.Lock()

def _read_body(environ):
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's dechunker ends at the last chunk
        return stream.read()
    return stream.read(int(environ.get("CONTENT_LENGTH") or 0))

def _buffered(self, environ):
    seen, early = [], []
    def capture(status, headers, exc_info=None):
        seen.append((status, headers))
        return early.append
    out = _call(self, environ, capture)
    try:
        rest = b"".join(out)
    finally:
        getattr(out, "close", lambda: None)()
    return seen[-1][0], seen[-1][1], b"".join(early) + rest

_tokens = {}  # ClientRequestToken -> (expires, request body, status, headers, answer)
def _transact(self, environ, body):
    try:
        token = json.loads(body).get("ClientRequestToken")
    except (ValueError, AttributeError):
        token = None  # not a JSON object: moto answers it as it does
    if not isinstance(token, str):
        token = None
    now = time.time()
    for t in [t for t, v in _tokens.items() if v[0] < now]:
        del _tokens[t]
    if token in _tokens:
        _, first, status, headers, answer = _tokens[token]
        if first != body:
            error = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                                "message": "the request uses the same client token as a previous, but non-identical request"}).encode()
            return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], error
        return status, headers, answer
    status, headers, answer = _buffered(self, environ)
    if token and status.startswith("200"):
        _tokens[token] = (now + 600, body, status, headers, answer)
    return status, headers, answer

def _serve(self, environ, start_response):
    body = _read_body(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        with _lock:
            if target.endswith(".TransactWriteItems"):
                status, headers, answer = _transact(self, environ, body)
            else:
                status, headers, answer = _buffered(self, environ)
    else:
        _client.socket = environ.get("werkzeug.socket")
        try:
            status, headers, answer = _buffered(self, environ)
        except _ClientGone:
            start_response("499 Client Closed Request", [("Content-Length", "0")])
            return [b""]
        finally:
            _client.socket = None
    code = int(status.split(None, 1)[0])
    if (environ["REQUEST_METHOD"] != "HEAD" and code >= 200 and code not in (204, 304)
            and not any(k.lower() == "content-length" for k, _ in headers)):
        headers = list(headers) + [("Content-Length", str(len(answer)))]
    environ["fedgate.keep_alive"] = True
    start_response(status, headers)
    return [answer]
DomainDispatcherApplication.__call__ = _serve

class _KeepAlive(serving.WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # an answer's head and body leave in one write
    def handle_one_request(self):
        self.environ = {}  # an error answered before the app runs closes the connection
        super().handle_one_request()
    def send_header(self, keyword, value):
        if (keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection
                and getattr(self, "environ", {}).get("fedgate.keep_alive")):
            return
        super().send_header(keyword, value)
class _NoDrain:
    EVENT_READ = 1
    class DefaultSelector:
        def register(self, *args): pass
        def select(self, timeout=None): return []
        def close(self): pass
serving.selectors = _NoDrain
server.run_simple = functools.partial(serving.run_simple, request_handler=_KeepAlive)

_client = threading.local()
class _ClientGone(BaseException):  # not an Exception: moto and Flask let it through
    pass
def _client_gone():
    sock = getattr(_client, "socket", None)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
_wait_for_messages = sqs.Queue.wait_for_messages
def _wait_unless_gone(self, timeout):
    _wait_for_messages(self, timeout)
    if _client_gone():
        raise _ClientGone()
sqs.Queue.wait_for_messages = _wait_unless_gone
_receive_message = sqs.SQSBackend.receive_message
def _receive_unless_gone(self, *args, **kwargs):
    if _client_gone():  # hung up before moto got to the request
        raise _ClientGone()
    return _receive_message(self, *args, **kwargs)
sqs.SQSBackend.receive_message = _receive_unless_gone

_modules = tuple(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: _modules

logging.getLogger("werkzeug").setLevel(logging.WARNING)

_unix_time = sqs.unix_time
def _now_s(dt=None):
    return time.time() if dt is None else _unix_time(dt)
def _now_ms(dt=None):
    return _now_s(dt) * 1000.0
sqs.unix_time, sqs.unix_time_millis = _now_s, _now_ms
def _available(self):
    now = _now_ms()
    return [m for m in self._messages if now > m.visible_at and now >= m.delayed_until]
def _delayed(self):
    now = _now_ms()
    return sum(1 for m in self._messages if now < m.delayed_until)
def _not_visible(self):
    now = _now_ms()
    return sum(1 for m in self._messages if now <= m.visible_at)
sqs.Queue.messages = property(_available)
sqs.Queue.approximate_number_of_messages_delayed = property(_delayed)
sqs.Queue.approximate_number_of_messages_not_visible = property(_not_visible)

server.main(sys.argv[1:])
`

// Server is a moto_server process started by Start.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start launches moto_server on a free loopback port and waits until it
// answers. The process is killed if this process dies, so no server outlives
// a crashed test binary.
func Start(ctx context.Context, logPath string) (*Server, error) {
	python, err := FindPython()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logFile := os.Stderr
	if logPath != "" {
		if logFile, err = os.Create(logPath); err != nil {
			return nil, fmt.Errorf("moto log: %w", err)
		}
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	started := make(chan error, 1)
	// Pdeathsig is tied to the OS thread that forked the child, so that thread
	// stays locked and alive for the child's whole life.
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command(python, "-c", launcher, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start moto_server: %w", err)
			return
		}
		s.cmd = cmd
		started <- nil
		_ = cmd.Wait()
		if logFile != os.Stderr {
			logFile.Close()
		}
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if err := WaitReady(ctx, s.URL, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop ends the server and waits for it to exit.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// WaitReady polls moto's management API until it answers or timeout passes.
func WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/moto-api/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto_server at %s did not answer within %s: %v", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Reset clears every resource on the server (POST /moto-api/reset).
func Reset(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %d", resp.StatusCode)
	}
	return nil
}

// FreePort asks the kernel for an unused loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not a TCP address")
	}
	return addr.Port, nil
}
