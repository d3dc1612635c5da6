// The provider form's look-up line (ui/src/lib/lookup.js), as unit tests: no
// server needed, but run with the rest so `make test-js` reaches them.
import '../../ui/src/lib/lookup.test.mjs';
