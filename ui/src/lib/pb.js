// The one PocketBase client of the app. Its default auth store keeps the
// session in localStorage ("pocketbase_auth"), so a reload stays logged in.
import PocketBase from 'pocketbase';

export const pb = new PocketBase('/');

// Views guard against stale answers themselves (search as you type keeps a
// sequence number); the SDK's auto-cancellation would otherwise cancel
// legitimate parallel requests to the same path (the dashboard's counts).
pb.autoCancellation(false);

// pb.filter escapes values: never build a filter by string concatenation.
export const f = (expr, params) => pb.filter(expr, params);
