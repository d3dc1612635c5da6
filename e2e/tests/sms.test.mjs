// The web UI's SMS counter (ui/src/lib/sms.js) against the server's rule, as
// unit tests: no server needed, but run with the rest so `make test-js`
// reaches them.
import '../../ui/src/lib/sms.test.mjs';
