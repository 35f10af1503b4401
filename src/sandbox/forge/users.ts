// Who exists on the sandbox forge: the configured people plus the bot that owns the API token.
// Logins the forge has never heard of (a human acting through humanMerge) get an id on first sight.

/** GitHub's repository roles (`none`: no access). */
export const FORGE_PERMISSIONS = ['admin', 'maintain', 'write', 'triage', 'read', 'none'] as const;
export type ForgePermission = (typeof FORGE_PERMISSIONS)[number];

export interface ForgeUserInput {
  readonly login: string;
  readonly email?: string;
  readonly name?: string;
  /** Their role on the repository (default write). */
  readonly permission?: ForgePermission;
  /** A personal token they act with through the REST API (`Authorization: token <t>`). */
  readonly token?: string;
}

/** `LOGIN:PERMISSION:TOKEN`, as `rewind sandbox --forge-user` takes it. */
export function parseForgeUser(spec: string): ForgeUserInput {
  const [login, permission, ...rest] = spec.split(':');
  const token = rest.join(':');
  if (!login || !/^[A-Za-z0-9-]{1,39}$/.test(login))
    throw new Error(`--forge-user "${spec}": LOGIN must be a GitHub-style login (letters, digits, -).`);
  if (!(FORGE_PERMISSIONS as readonly string[]).includes(permission ?? ''))
    throw new Error(`--forge-user "${spec}": PERMISSION must be one of ${FORGE_PERMISSIONS.join(', ')}.`);
  if (token.length < 8) throw new Error(`--forge-user "${spec}": TOKEN must have at least 8 characters.`);
  return { login, email: `${login}@example.com`, permission: permission as ForgePermission, token };
}

export interface ForgeUser {
  readonly login: string;
  readonly id: number;
  readonly type: 'User' | 'Bot';
  readonly email: string | null;
  readonly name: string | null;
  readonly permission: ForgePermission;
  readonly token?: string;
}

/** The login GitHub shows for a GitHub App's installation token. */
export const BOT_LOGIN = 'rewind[bot]';

export class UserDirectory {
  private readonly byLogin = new Map<string, ForgeUser>();
  private lastId = 100;

  constructor(users: readonly ForgeUserInput[]) {
    this.add({ login: BOT_LOGIN, type: 'Bot', email: null, name: null, permission: 'admin' });
    for (const u of users)
      this.add({
        login: u.login,
        type: 'User',
        email: u.email ?? null,
        name: u.name ?? null,
        permission: u.permission ?? 'write',
        ...(u.token ? { token: u.token } : {}),
      });
  }

  private add(user: Omit<ForgeUser, 'id'>): ForgeUser {
    this.lastId += 1;
    const record = { ...user, id: this.lastId };
    this.byLogin.set(user.login.toLowerCase(), record);
    return record;
  }

  /** A configured (or already seen) user, by case-insensitive login. */
  find(login: string): ForgeUser | undefined {
    return this.byLogin.get(login.toLowerCase());
  }

  isKnown(login: string): boolean {
    return this.find(login) !== undefined;
  }

  /** The user for a login, registering an unknown one as a plain User. */
  get(login: string): ForgeUser {
    return this.find(login) ?? this.add({ login, type: 'User', email: null, name: null, permission: 'none' });
  }

  /** The person a personal token belongs to. */
  byToken(token: string): ForgeUser | undefined {
    return [...this.byLogin.values()].find((u) => u.token !== undefined && u.token === token);
  }

  /** Configured people only (not the bot), in order. */
  people(): ForgeUser[] {
    return [...this.byLogin.values()].filter((u) => u.type === 'User');
  }

  byEmail(email: string): ForgeUser[] {
    const wanted = email.toLowerCase();
    return this.people().filter((u) => u.email?.toLowerCase() === wanted);
  }
}
