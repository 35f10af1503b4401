// Users: profiles, search by email (how a bot maps a commit author to a login), the token's own
// user, and the rate-limit status.
import { type Route, notFound, route, validationFailed } from './http.ts';
import type { Shapes } from './shapes.ts';
import { BOT_LOGIN, type ForgeUser, type UserDirectory } from './users.ts';

export interface QuotaView {
  /** GitHub's `resources.core`, as the sandbox counts it. */
  core(): { limit: number; remaining: number; reset: number; used: number };
}

export function userRoutes(users: UserDirectory, shapes: Shapes, quota: QuotaView): Route[] {
  return [
    route('GET', '/user', 'users.getAuthenticated', async () => ({
      status: 200,
      body: shapes.profile(BOT_LOGIN),
    })),

    route('GET', '/users/:login', 'users.getByUsername', async ({ params }) => {
      const user = users.find(params['login'] ?? '');
      if (user === undefined) throw notFound();
      return { status: 200, body: shapes.profile(user.login) };
    }),

    route('GET', '/search/users', 'search.users', async ({ query }) => {
      const q = query.get('q') ?? '';
      const terms = q.split(/\s+/).filter((t) => t !== '');
      const qualifiers = terms.filter((t) => /^[a-z]+:/.test(t));
      const words = terms.filter((t) => !/^[a-z]+:/.test(t));
      if (words.length === 0) {
        throw validationFailed([{ resource: 'Search', field: 'q', code: 'missing' }]);
      }
      const inEmail = qualifiers.includes('in:email');
      const matches = new Map<string, ForgeUser>();
      for (const word of words) {
        const found =
          inEmail || word.includes('@')
            ? users.byEmail(word)
            : users.people().filter((u) => u.login.toLowerCase().includes(word.toLowerCase()));
        for (const u of found) matches.set(u.login, u);
      }
      const items = [...matches.values()].map((u) => ({ ...shapes.user(u.login), score: 1 }));
      return { status: 200, body: { total_count: items.length, incomplete_results: false, items } };
    }),

    route('GET', '/rate_limit', 'rateLimit.get', async () => {
      const core = quota.core();
      const other = (limit: number) => ({ limit, remaining: limit, reset: core.reset, used: 0 });
      return {
        status: 200,
        body: {
          resources: { core, search: other(30), graphql: other(5000), integration_manifest: other(5000) },
          rate: core,
        },
      };
    }),
  ];
}
