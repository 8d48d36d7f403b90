//! ID3v1 and v1.1: 128 bytes at the end of the file, `TAG`, then title,
//! artist and album (30 bytes each), year (4), comment (30; v1.1 keeps a
//! track number in its last byte after a NUL) and a genre number.

use super::text;
use super::{Key, Tag};

/// Reads the 128 bytes of a tag (`TAG` first); `None` if they are not one.
pub fn parse(b: &[u8]) -> Option<Tag> {
    if b.len() != 128 || &b[..3] != b"TAG" {
        return None;
    }
    let field = |from: usize, len: usize| {
        let raw = &b[from..from + len];
        let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
        text::latin1(&raw[..end])
    };
    let mut t = Tag::default();
    t.add(Key::Title, &field(3, 30));
    t.add(Key::Artist, &field(33, 30));
    t.add(Key::Album, &field(63, 30));
    t.add(Key::Year, &field(93, 4));
    if b[125] == 0 && b[126] != 0 {
        t.track = Some(u32::from(b[126]));
    }
    if let Some(g) = GENRES.get(usize::from(b[127])) {
        t.genre = Some((*g).to_string());
    }
    Some(t)
}

/// The genre list of ID3v1 with Winamp's additions (0-147).
pub const GENRES: &[&str] = &[
    "Blues",
    "Classic Rock",
    "Country",
    "Dance",
    "Disco",
    "Funk",
    "Grunge",
    "Hip-Hop",
    "Jazz",
    "Metal",
    "New Age",
    "Oldies",
    "Other",
    "Pop",
    "R&B",
    "Rap",
    "Reggae",
    "Rock",
    "Techno",
    "Industrial",
    "Alternative",
    "Ska",
    "Death Metal",
    "Pranks",
    "Soundtrack",
    "Euro-Techno",
    "Ambient",
    "Trip-Hop",
    "Vocal",
    "Jazz+Funk",
    "Fusion",
    "Trance",
    "Classical",
    "Instrumental",
    "Acid",
    "House",
    "Game",
    "Sound Clip",
    "Gospel",
    "Noise",
    "Alternative Rock",
    "Bass",
    "Soul",
    "Punk",
    "Space",
    "Meditative",
    "Instrumental Pop",
    "Instrumental Rock",
    "Ethnic",
    "Gothic",
    "Darkwave",
    "Techno-Industrial",
    "Electronic",
    "Pop-Folk",
    "Eurodance",
    "Dream",
    "Southern Rock",
    "Comedy",
    "Cult",
    "Gangsta",
    "Top 40",
    "Christian Rap",
    "Pop/Funk",
    "Jungle",
    "Native American",
    "Cabaret",
    "New Wave",
    "Psychedelic",
    "Rave",
    "Showtunes",
    "Trailer",
    "Lo-Fi",
    "Tribal",
    "Acid Punk",
    "Acid Jazz",
    "Polka",
    "Retro",
    "Musical",
    "Rock & Roll",
    "Hard Rock",
    "Folk",
    "Folk-Rock",
    "National Folk",
    "Swing",
    "Fast Fusion",
    "Bebop",
    "Latin",
    "Revival",
    "Celtic",
    "Bluegrass",
    "Avantgarde",
    "Gothic Rock",
    "Progressive Rock",
    "Psychedelic Rock",
    "Symphonic Rock",
    "Slow Rock",
    "Big Band",
    "Chorus",
    "Easy Listening",
    "Acoustic",
    "Humour",
    "Speech",
    "Chanson",
    "Opera",
    "Chamber Music",
    "Sonata",
    "Symphony",
    "Booty Bass",
    "Primus",
    "Porn Groove",
    "Satire",
    "Slow Jam",
    "Club",
    "Tango",
    "Samba",
    "Folklore",
    "Ballad",
    "Power Ballad",
    "Rhythmic Soul",
    "Freestyle",
    "Duet",
    "Punk Rock",
    "Drum Solo",
    "A Cappella",
    "Euro-House",
    "Dance Hall",
    "Goa",
    "Drum & Bass",
    "Club-House",
    "Hardcore",
    "Terror",
    "Indie",
    "BritPop",
    "Afro-Punk",
    "Polsk Punk",
    "Beat",
    "Christian Gangsta Rap",
    "Heavy Metal",
    "Black Metal",
    "Crossover",
    "Contemporary Christian",
    "Christian Rock",
    "Merengue",
    "Salsa",
    "Thrash Metal",
    "Anime",
    "JPop",
    "Synthpop",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(title: &str, artist: &str, track: Option<u8>) -> Vec<u8> {
        let mut b = vec![0u8; 128];
        b[..3].copy_from_slice(b"TAG");
        b[3..3 + title.len()].copy_from_slice(title.as_bytes());
        b[33..33 + artist.len()].copy_from_slice(artist.as_bytes());
        b[93..97].copy_from_slice(b"1999");
        if let Some(n) = track {
            b[126] = n;
        }
        b[127] = 101;
        b
    }

    #[test]
    fn v1_and_v1_1() {
        let t = parse(&tag("Dune", "Frank Herbert   ", Some(7))).unwrap();
        assert_eq!(t.title.as_deref(), Some("Dune"));
        assert_eq!(t.artists, ["Frank Herbert"]);
        assert_eq!(t.year, Some(1999));
        assert_eq!(t.track, Some(7));
        assert_eq!(t.genre.as_deref(), Some("Speech"));
        assert_eq!(parse(&tag("A", "B", None)).unwrap().track, None);
        assert!(parse(&[0u8; 128]).is_none());
    }
}
