// Package deploy is dialua's release model (docs/releases.md): a tenant's
// scripts and lib/ modules uploaded as one immutable release, compiled
// whole before anything is stored, activated for every script of the
// tenant at once, pinned per call, optionally split by a canary, rolled
// back, compared.
//
// What an admin API or CLI calls:
//
//	st, err := deploy.OpenDisk(dataDir, log)              // the Store (embedded; deploy.OpenRedis for many nodes)
//	rel, err := deploy.Upload(ctx, st, tenant, body, deploy.Limits{}, msg)
//	                                                      // *BundleError (hostile or malformed tar.gz),
//	                                                      // *CheckError (every tenant/file.lua:LINE: message)
//	err = st.Activate(ctx, tenant, rel.ID)                // live for new calls at once; ends a canary
//	err = st.SetCanary(ctx, tenant, rel.ID, 10)           // 10% of new calls; (ctx, tenant, "", 0) aborts
//	rel, err = deploy.Promote(ctx, st, tenant)            // the canary becomes the active release
//	rel, err = deploy.Rollback(ctx, st, tenant, "")       // the release before the active one, or a given id
//	h, err := deploy.GetHistory(ctx, st, tenant)          // releases oldest first, active, canary
//	d, err := deploy.DiffReleases(ctx, st, tenant, a, b)  // files added, removed, changed
//	err = st.RemoveTenant(ctx, tenant)
//
// For the CLI: ReadDir reads a tenant's tree from a folder and WriteBundle
// writes it as the tar.gz Upload reads (ReadBundle). Errors of a Store
// wrap ErrNoTenant, ErrNoRelease, ErrNoFile, ErrBadName, ErrConflict.
//
// What an engine is given:
//
//	src := deploy.NewSource(st, folder)                   // loader.Source: releases, else the folder
//	pick, err := deploy.NewPicker(st, deploy.PickerOptions{Sessions: sessions})
//	eng, err := engine.New(engine.Options{Source: src, Releases: pick, Sessions: sessions, ...})
//
// Which source wins: a tenant with an active release is served from its
// releases only, every script and module of a request from the one release
// Pick chose; its scripts folder, if it has one, is ignored until the
// tenant is removed from the store. A tenant without an active release
// (none uploaded, or only uploaded with no activation) is served from the
// scripts folder, which stays the development source.
//
// Pinning: the first request of a call (its CallID) pins the release it
// got, in the session store under a key no script can name, for the
// session TTL (renewed as the call goes on); the call's later requests and
// its Hangup use the pin, and the Hangup removes it. A canary sends a
// sticky share of new calls (a hash of tenant and CallID) to its release.
// Requests without a CallID get the live release.
package deploy
