// Included once, inside namespace pg_test, by pg_test.hpp: the AVX-512 loops of the pg kernels
// (avx512_kernels) against the portable loops compiled for the same target (use_portable_kernels), which
// must give the same bits: the log-prob forward (pg_logits.hpp) and the loss's token groups
// (native/src/pg/loss_avx512.hpp).

/// The AVX-512 loop of the log-prob forward (avx512_kernels) against the portable one: the same bits.
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

inline void test_forward_avx512_same_bits() {
  if (!avx512_kernels()) {
    std::printf("pg: no AVX-512 on this CPU, the portable forward alone was tested\n");
    return;
  }
  // The forward's blocks: ties u = k + ½ (logits on a grid of ¼ at τ = log2 e, where u = x − max exactly),
  // peaked rows, u below −126.5, −∞ and NaN logits.
  for (const double tau : {1.0, 1.4426950408889634, 0.05}) {
    const int64_t N = 9, V = 4100;
    Rng r{77u};
    std::vector<float> x(static_cast<size_t>(N * V));
    for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(std::round(32.0 * (r() - 0.5)) * 0.25);
    for (int64_t j = 0; j < V; ++j) x[static_cast<size_t>(2 * V + j)] = j == 3 ? 40.0f : static_cast<float>(0.01 * r());
    x[static_cast<size_t>(4 * V + 16)] = 4.0f;  // the row's maximum (the grid's top)
    x[static_cast<size_t>(4 * V + 17)] = 4.0f - 126.5f;  // u = −126.5 at τ = log2 e, exp2_f32's last 0
    x[static_cast<size_t>(4 * V + 18)] = 4.0f - 126.25f;
    x[static_cast<size_t>(4 * V + 19)] = -200.0f;
    std::vector<int32_t> tg(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) tg[static_cast<size_t>(n)] = static_cast<int32_t>((n * 131) % V);
    for (int bad = 0; bad < 3; ++bad) {
      std::vector<float> xb = x;
      if (bad == 1) xb[static_cast<size_t>(5 * V + 2050)] = -INFINITY;
      if (bad == 2) xb[static_cast<size_t>(6 * V + 4099)] = NAN;
      for (bool ent : {false, true}) {
        std::vector<float> lp(N), ls(N), H(N), lp2(N), ls2(N), H2(N);
        use_portable_kernels(true);
        const int64_t want = token_logprobs<float>(xb.data(), N, V, tg.data(), tau, lp.data(), ls.data(),
                                                   ent ? H.data() : nullptr, 0);
        use_portable_kernels(false);
        const int64_t got = token_logprobs<float>(xb.data(), N, V, tg.data(), tau, lp2.data(), ls2.data(),
                                                  ent ? H2.data() : nullptr, 0);
        assert(got == want);
        if (want == -1) assert(same_bits(lp, lp2) && same_bits(ls, ls2) && same_bits(H, H2));
      }
    }
  }
}

/// The loss's AVX-512 token groups against the portable loop: the same gradient, sums and counts, bit for
/// bit, and the same first non-finite index per array, over every estimator, both advantage layouts, with
/// and without entropy and inactive-position checks, on batches that take the cheap guard's short path
/// (small log-ratios), its long path (clipped and dual-clipped tokens, k3 past its clamps, huge advantages)
/// and boundary tokens that the f64 redo takes.
inline void test_loss_avx512_same_bits() {
  if (!avx512_kernels()) {
    std::printf("pg: no AVX-512 on this CPU, the portable loss alone was tested\n");
    return;
  }
  const auto same_run = [](const Run<float>& a, const Run<float>& b) {
    const LossSums &x = a.sums, &y = b.sums;
    bool eq = a.ok == b.ok && same_bits(a.grad, b.grad) && same_bits(a.gent, b.gent);
    const double xs[] = {x.policy, x.kl, x.entropy, x.ratio, x.neg_log_ratio, x.kl_value, x.entropy_value};
    const double ys[] = {y.policy, y.kl, y.entropy, y.ratio, y.neg_log_ratio, y.kl_value, y.entropy_value};
    eq = eq && std::memcmp(xs, ys, sizeof xs) == 0;
    eq = eq && x.high == y.high && x.low == y.low && x.dual == y.dual && x.tokens == y.tokens;
    for (int k = 0; k < kNumLossArrays; ++k) eq = eq && x.nonfinite[k] == y.nonfinite[k];
    return eq;
  };
  int cases = 0;
  for (int kl : {KlNone, KlK1, KlAbs, KlK2, KlK3})
    for (bool per_token : {false, true})
      for (double spread : {0.05, 1.0, 6.0}) {
        Batch b = make_batch(29, 203, 41u + static_cast<uint32_t>(kl + 1) * 5u + per_token, per_token);
        // spread scales logp − old and ref − logp: 0.05 stays inside the cheap test's radii, 1.0 clips
        // many tokens, 6.0 reaches the dual clip, the log-ratio clamp's side and k3's clamps.
        for (size_t k = 0; k < b.logp.size(); ++k) {
          b.old[k] = b.logp[k] + spread * (b.old[k] - b.logp[k]) * 4.0;
          b.ref[k] = b.logp[k] + spread * (b.ref[k] - b.logp[k]) * 8.0;
        }
        // A = ±0 (a GRPO group whose rewards are all equal): the short path takes A's signs from its sign
        // bits, which differ from A < 0 and A > 0 exactly there.
        for (size_t k = 3; k < b.adv.size(); k += 7) b.adv[k] = k % 2 ? 0.0 : -0.0;
        if (per_token) b.adv[17] = 2e30;  // |ℓ| > 1e30: the f64 redo, on the short path too
        round_to_f32(b);
        for (bool ent : {false, true})
          for (bool ignore : {false, true})
            for (int bad = 0; bad < 7; ++bad) {
              Batch c = b;
              // bad 5, 6: no bad value, a ratio cap (the short path leaves the cap's operations out only
              // without one): one above the clip range, one below 1.
              const double cap = bad == 5 ? 1.5 : bad == 6 ? 0.9 : INFINITY;
              if (bad == 1) c.old[300] = NAN;               // sequence 1, maybe inactive
              if (bad == 2) c.ref[1000] = -INFINITY;        // sequence 4: length 0, inactive
              if (bad == 3) c.entropy[900] = NAN;           // sequence 4 (the padding's own loop)
              if (bad == 4) (per_token ? c.adv : c.logp)[950] = INFINITY;
              LossParams p = verl_params(kl);
              p.advantage_per_token = per_token;
              p.ignore_inactive_nonfinite = ignore;
              if (spread > 3) p.log_ratio_clamp = 2.0;
              p.ratio_cap = cap;
              resolve(c, p);
              use_portable_kernels(true);
              const Run<float> want = run_loss<float>(c, p, ent, 0);
              use_portable_kernels(false);
              const Run<float> got = run_loss<float>(c, p, ent, 0);
              if (!same_run(got, want))
                std::printf("pg: AVX-512 loss differs (kl %d, per token %d, spread %g, entropy %d, ignore %d, bad %d)\n",
                            kl, per_token, spread, ent, ignore, bad);
              assert(same_run(got, want));
              ++cases;
            }
      }
  assert(cases == 5 * 2 * 3 * 2 * 2 * 7);
}
