// The logged-in user, their workspaces with their role in each, and the
// workspace the UI is showing. Roles only decide which controls are shown:
// the server's API rules are what actually allow or refuse a change.
import { pb, f } from './pb.js';

const WS_KEY = 'picrm.workspace';

export const session = $state({
  user: pb.authStore.isValid ? pb.authStore.record : null,
  workspaces: [], // [{id, name, owner, role}]
  workspaceId: '',
  ready: false,
  loadError: '',
});

pb.authStore.onChange((_token, record) => {
  session.user = pb.authStore.isValid ? record : null;
});

export function currentWorkspace() {
  return session.workspaces.find((w) => w.id === session.workspaceId) || null;
}

export function role() {
  return currentWorkspace()?.role || '';
}

// editors and above change contacts, lists and the timeline
export function canEdit() {
  return ['owner', 'admin', 'editor'].includes(role());
}

// admins and owners manage definitions, members and read the audit log
export function isAdmin() {
  return ['owner', 'admin'].includes(role());
}

export async function loadWorkspaces() {
  session.loadError = '';
  try {
    const [workspaces, memberships] = await Promise.all([
      pb.collection('workspaces').getFullList({ sort: 'name' }),
      pb.collection('workspace_members').getFullList({ filter: f('user = {:u}', { u: pb.authStore.record?.id }) }),
    ]);
    const roles = Object.fromEntries(memberships.map((m) => [m.workspace, m.role]));
    session.workspaces = workspaces.map((w) => ({ id: w.id, name: w.name, owner: w.owner, role: roles[w.id] || 'viewer' }));
    const saved = localStorage.getItem(WS_KEY);
    if (!session.workspaces.some((w) => w.id === session.workspaceId)) {
      session.workspaceId = session.workspaces.some((w) => w.id === saved) ? saved : session.workspaces[0]?.id || '';
    }
  } catch (err) {
    if (err.status === 401) logout();
    else session.loadError = err.response?.message || err.message || 'Could not load your workspaces';
  } finally {
    session.ready = true;
  }
}

export function selectWorkspace(id) {
  session.workspaceId = id;
  localStorage.setItem(WS_KEY, id);
}

export async function login(email, password) {
  await pb.collection('users').authWithPassword(email, password);
  session.user = pb.authStore.record;
  await loadWorkspaces();
}

export function logout() {
  pb.realtime.unsubscribe().catch(() => {});
  pb.authStore.clear();
  session.user = null;
  session.workspaces = [];
  session.workspaceId = '';
}
