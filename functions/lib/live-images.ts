// The live service for publish and edit: the one that may publish photos, so only the functions
// granted the bucket (shared/routes.ts `publishImages`) import the S3 client with it.
import { ImagePublisher } from '../../shared/domain/image-publisher';
import { LiveService } from '../../shared/domain/live-service';
import { part } from './container';
import { imageStorage } from './images';
import { liveDeps } from './live';

export const liveWithImages = part(
  (c) => new LiveService({ ...liveDeps(c), images: new ImagePublisher(imageStorage()) }),
);
