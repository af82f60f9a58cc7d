// For signed-out visitors: what Hushcut does, an example, and the way in.
import { BeforeAfter } from "../components/BeforeAfter";
import { PublicLayout } from "../components/PublicLayout";
import { usePageTitle } from "../components/title";

export function Landing() {
  usePageTitle("");
  return (
    <PublicLayout signInLink>
      <section class="hero">
        <h1 tabIndex={-1}>Hushcut cuts the silences out of your talking videos.</h1>
        <p class="lead">
          Upload a recording: Hushcut finds every pause, cuts it out frame-accurately and gives you back a shorter
          video. Watch the progress live, then download the result.
        </p>
        <p>
          <a class="button large" href="/signin">
            Sign in to start
          </a>
        </p>
      </section>
      <BeforeAfter />
      <section class="features" aria-label="What you get">
        <div>
          <h2>Live progress</h2>
          <p>Each upload shows what is happening, from upload to the finished video.</p>
        </div>
        <div>
          <h2>Your settings</h2>
          <p>Silence threshold, minimum pause, margins and render mode, remembered for each workspace.</p>
        </div>
        <div>
          <h2>An API for programs</h2>
          <p>Everything the page does, a script can do too: GraphQL with API tokens.</p>
        </div>
      </section>
    </PublicLayout>
  );
}
