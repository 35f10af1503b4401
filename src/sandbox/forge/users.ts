// Who exists on the sandbox forge: the configured people plus the bot that owns the API token.
// Logins the forge has never heard of (a human acting through humanMerge) get an id on first sight.

export interface ForgeUserInput {
  readonly login: string;
  readonly email: string;
  readonly name?: string;
}

export interface ForgeUser {
  readonly login: string;
  readonly id: number;
  readonly type: 'User' | 'Bot';
  readonly email: string | null;
  readonly name: string | null;
}

/** The login GitHub shows for a GitHub App's installation token. */
export const BOT_LOGIN = 'rewind[bot]';

export class UserDirectory {
  private readonly byLogin = new Map<string, ForgeUser>();
  private lastId = 100;

  constructor(users: readonly ForgeUserInput[]) {
    this.add({ login: BOT_LOGIN, type: 'Bot', email: null, name: null });
    for (const u of users) this.add({ login: u.login, type: 'User', email: u.email, name: u.name ?? null });
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
    return this.find(login) ?? this.add({ login, type: 'User', email: null, name: null });
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
