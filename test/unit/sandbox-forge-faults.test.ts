import { describe, expect, it } from 'vitest';
import { FaultInjector } from '../../src/sandbox/forge/faults.ts';
import { matchRoute, route } from '../../src/sandbox/forge/http.ts';
import { ForgeState, type RequestRecord } from '../../src/sandbox/forge/state.ts';

const kinds = (injector: FaultInjector, n: number, write = false) =>
  Array.from({ length: n }, () => {
    const roll = injector.roll(write, 0);
    return roll.afterEffect ? 'after-effect' : (roll.before?.kind ?? 'ok');
  });

describe('sandbox forge faults', () => {
  it('repeats the same faults for the same seed, and restarts the sequence on setFaults', () => {
    const options = { errorRate: 0.3, rateLimitRate: 0.1, secondaryRateLimitRate: 0.1, seed: 42 };
    const a = new FaultInjector(options);
    const b = new FaultInjector(options);
    const first = kinds(a, 50);
    expect(kinds(b, 50)).toEqual(first);
    a.set(options);
    expect(kinds(a, 50)).toEqual(first);
  });

  it('answers roughly the configured share of requests with each fault', () => {
    const injector = new FaultInjector({ errorRate: 0.5, seed: 1 });
    const errors = kinds(injector, 2000).filter((k) => k === 'error').length;
    expect(errors).toBeGreaterThan(900);
    expect(errors).toBeLessThan(1100);
  });

  it('loses answers after the effect for writes only', () => {
    expect(kinds(new FaultInjector({ afterEffectRate: 1, seed: 1 }), 5, true)).toEqual(
      Array(5).fill('after-effect'),
    );
    expect(kinds(new FaultInjector({ afterEffectRate: 1, seed: 1 }), 5, false)).toEqual(Array(5).fill('ok'));
  });

  it('aims a fault at one operation, for as many requests as asked, on top of the random ones', () => {
    const injector = new FaultInjector({
      routes: { 'pulls.create': { afterEffect: true, times: 1 }, 'pulls.listReviews': { status: 404 } },
    });
    const create = () => injector.roll(true, 0, 'pulls.create');
    expect([create().afterEffect, create().afterEffect]).toEqual([true, false]);
    expect(injector.roll(true, 0, 'issues.createComment')).toEqual({ before: undefined, afterEffect: false });
    for (let i = 0; i < 3; i += 1) {
      expect(injector.roll(false, 0, 'pulls.listReviews').before).toMatchObject({ status: 404 });
    }
    expect(
      new FaultInjector({ routes: { 'pulls.get': { status: 500 } } }).roll(false, 0, 'pulls.get').before,
    ).toMatchObject({ kind: 'error', status: 500 });
  });

  it('gives rate-limit answers the headers Octokit reads', () => {
    const primary = new FaultInjector({ rateLimitRate: 1 }).roll(false, 10_000).before;
    expect(primary).toMatchObject({
      status: 403,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '11' },
    });
    const secondary = new FaultInjector({ secondaryRateLimitRate: 1 }).roll(false).before;
    expect([403, 429]).toContain(secondary?.status);
    expect(secondary?.headers['retry-after']).toBe('1');
    expect(secondary?.body['message']).toMatch(/secondary rate limit/);
  });
});

describe('sandbox forge routing and request log', () => {
  it('matches branch names with slashes and keeps single segments to one segment', () => {
    const routes = [
      route('GET', '/repos/:owner/:repo/git/ref/*ref', 'git.getRef', async () => ({ status: 200 })),
      route('GET', '/repos/:owner/:repo/pulls/:number', 'pulls.get', async () => ({ status: 200 })),
    ];
    const ref = matchRoute(routes, 'GET', '/repos/o/r/git/ref/heads/rewind/a/b');
    expect(typeof ref === 'object' && ref.params).toEqual({ owner: 'o', repo: 'r', ref: 'heads/rewind/a/b' });
    expect(matchRoute(routes, 'GET', '/repos/o/r/pulls/1/extra')).toBeUndefined();
    expect(matchRoute(routes, 'POST', '/repos/o/r/pulls/1')).toBe('method-not-allowed');
  });

  it('counts content-creating requests and the smallest gap between writes', () => {
    const state = new ForgeState();
    const request = (route: string, at: number, write = true): RequestRecord => ({
      method: write ? 'POST' : 'GET',
      path: '/',
      query: '',
      route,
      status: 201,
      at,
      durationMs: 1,
      fault: undefined,
      write,
    });
    state.requests.push(
      request('pulls.create', 1000),
      request('pulls.get', 1100, false),
      request('issues.createComment', 4000),
      request('issues.addLabels', 4500),
    );
    expect(state.contentCreatingRequests().map((r) => r.route)).toEqual([
      'pulls.create',
      'issues.createComment',
    ]);
    expect(state.minGapBetweenWritesMs()).toBe(500);
  });
});
