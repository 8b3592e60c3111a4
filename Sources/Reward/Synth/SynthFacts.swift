import Foundation
import Tensor

/// Look-ups from built-in tables: capitals (against the largest or best-known city and other
/// capitals of the region) and chemical symbols (against symbols made the obvious wrong way and
/// other elements' symbols).
enum SynthFacts {
    /// Country, capital, and cities commonly mistaken for the capital.
    static let capitals: [(String, String, [String])] = [
        ("Australia", "Canberra", ["Sydney", "Melbourne"]), ("Canada", "Ottawa", ["Toronto", "Montreal"]),
        ("Brazil", "Brasília", ["Rio de Janeiro", "São Paulo"]), ("Turkey", "Ankara", ["Istanbul", "Izmir"]),
        ("Switzerland", "Bern", ["Zurich", "Geneva"]), ("New Zealand", "Wellington", ["Auckland", "Christchurch"]),
        ("Nigeria", "Abuja", ["Lagos", "Kano"]), ("Morocco", "Rabat", ["Casablanca", "Marrakesh"]),
        ("Vietnam", "Hanoi", ["Ho Chi Minh City", "Da Nang"]), ("Pakistan", "Islamabad", ["Karachi", "Lahore"]),
        ("India", "New Delhi", ["Mumbai", "Kolkata"]), ("United States", "Washington, D.C.", ["New York City", "Philadelphia"]),
        ("South Africa", "Pretoria", ["Johannesburg", "Durban"]), ("Kazakhstan", "Astana", ["Almaty", "Shymkent"]),
        ("Tanzania", "Dodoma", ["Dar es Salaam", "Arusha"]), ("Myanmar", "Naypyidaw", ["Yangon", "Mandalay"]),
        ("Côte d'Ivoire", "Yamoussoukro", ["Abidjan", "Bouaké"]), ("Malta", "Valletta", ["Sliema", "Birkirkara"]),
        ("Ecuador", "Quito", ["Guayaquil", "Cuenca"]), ("Jamaica", "Kingston", ["Montego Bay", "Spanish Town"]),
        ("Scotland", "Edinburgh", ["Glasgow", "Aberdeen"]), ("Italy", "Rome", ["Milan", "Naples"]),
        ("Spain", "Madrid", ["Barcelona", "Seville"]), ("Germany", "Berlin", ["Munich", "Frankfurt"]),
        ("Japan", "Tokyo", ["Kyoto", "Osaka"]), ("China", "Beijing", ["Shanghai", "Hong Kong"]),
        ("Russia", "Moscow", ["Saint Petersburg", "Novosibirsk"]), ("Egypt", "Cairo", ["Alexandria", "Giza"]),
        ("Kenya", "Nairobi", ["Mombasa", "Kisumu"]), ("Argentina", "Buenos Aires", ["Córdoba", "Rosario"]),
        ("Colombia", "Bogotá", ["Medellín", "Cali"]), ("Peru", "Lima", ["Cusco", "Arequipa"]),
        ("Chile", "Santiago", ["Valparaíso", "Concepción"]), ("Norway", "Oslo", ["Bergen", "Trondheim"]),
        ("Sweden", "Stockholm", ["Gothenburg", "Malmö"]), ("Finland", "Helsinki", ["Tampere", "Turku"]),
        ("Poland", "Warsaw", ["Kraków", "Gdańsk"]), ("Portugal", "Lisbon", ["Porto", "Coimbra"]),
        ("Netherlands", "Amsterdam", ["Rotterdam", "The Hague"]), ("Belgium", "Brussels", ["Antwerp", "Ghent"]),
        ("Greece", "Athens", ["Thessaloniki", "Patras"]), ("Ireland", "Dublin", ["Cork", "Galway"]),
        ("South Korea", "Seoul", ["Busan", "Incheon"]), ("Thailand", "Bangkok", ["Chiang Mai", "Phuket"]),
        ("Indonesia", "Jakarta", ["Surabaya", "Bali"]), ("Philippines", "Manila", ["Quezon City", "Cebu"]),
        ("Saudi Arabia", "Riyadh", ["Jeddah", "Mecca"]), ("United Arab Emirates", "Abu Dhabi", ["Dubai", "Sharjah"]),
        ("Mexico", "Mexico City", ["Guadalajara", "Monterrey"]), ("Cuba", "Havana", ["Santiago de Cuba", "Varadero"]),
        ("Iceland", "Reykjavík", ["Akureyri", "Kópavogur"]), ("Mongolia", "Ulaanbaatar", ["Erdenet", "Darkhan"])
    ]

    /// Element name and symbol.
    static let elements: [(String, String)] = [
        ("hydrogen", "H"), ("helium", "He"), ("lithium", "Li"), ("carbon", "C"), ("nitrogen", "N"), ("oxygen", "O"),
        ("fluorine", "F"), ("neon", "Ne"), ("sodium", "Na"), ("magnesium", "Mg"), ("aluminium", "Al"),
        ("silicon", "Si"), ("phosphorus", "P"), ("sulfur", "S"), ("chlorine", "Cl"), ("argon", "Ar"),
        ("potassium", "K"), ("calcium", "Ca"), ("titanium", "Ti"), ("chromium", "Cr"), ("manganese", "Mn"),
        ("iron", "Fe"), ("cobalt", "Co"), ("nickel", "Ni"), ("copper", "Cu"), ("zinc", "Zn"), ("arsenic", "As"),
        ("bromine", "Br"), ("silver", "Ag"), ("tin", "Sn"), ("iodine", "I"), ("platinum", "Pt"), ("gold", "Au"),
        ("mercury", "Hg"), ("lead", "Pb"), ("uranium", "U"), ("tungsten", "W"), ("antimony", "Sb"),
        ("barium", "Ba"), ("radon", "Rn")
    ]

    static func draft(_ rng: inout SeededRandom) -> SynthDraft {
        switch rng.nextInt(3) {
        case 0: return capital(&rng)
        case 1: return symbol(&rng)
        default: return elementOfSymbol(&rng)
        }
    }

    static func capital(_ rng: inout SeededRandom) -> SynthDraft {
        let (country, capital, decoys) = rng.pick(capitals)
        let others = rng.sample(capitals.map(\.1).filter { $0 != capital }, 2)
        let style = rng.nextInt(2)
        func text(_ city: String) -> String {
            style == 0 ? "The capital of \(country) is \(city)." : "\(city) is the capital city of \(country)."
        }
        let prompt = rng.pick([
            "What is the capital of \(country)?", "Which city is the capital of \(country)?",
            "Name the capital city of \(country)."
        ])
        return SynthDraft(
            key: "capital:\(country)", prompt: prompt, correct: text(capital),
            wrong: (decoys + others).map(text))
    }

    /// Symbols a careless answer would give: first letter(s) capitalised, first and third letter.
    static func fakeSymbols(_ name: String) -> [String] {
        let l = Array(name)
        var out = [String(l[0]).uppercased(), String(l[0]).uppercased() + String(l[1])]
        if l.count > 2 { out.append(String(l[0]).uppercased() + String(l[2])) }
        return out
    }

    static func symbol(_ rng: inout SeededRandom) -> SynthDraft {
        let (name, symbol) = rng.pick(elements)
        let style = rng.nextInt(2)
        func text(_ s: String) -> String {
            style == 0 ? "The chemical symbol for \(name) is \(s)." : "\(name.prefix(1).uppercased() + name.dropFirst()) has the symbol \(s)."
        }
        let others = rng.sample(elements.map(\.1).filter { $0 != symbol }, 2)
        let wrong = (fakeSymbols(name).filter { $0 != symbol } + others).map(text)
        let prompt = rng.pick(["What is the chemical symbol for \(name)?", "Give the element symbol of \(name)."])
        return SynthDraft(key: "symbol:\(name)", prompt: prompt, correct: text(symbol), wrong: wrong)
    }

    static func elementOfSymbol(_ rng: inout SeededRandom) -> SynthDraft {
        let (name, symbol) = rng.pick(elements)
        // Elements whose names start like the symbol are the tempting wrong answers.
        let first = symbol.prefix(1).lowercased()
        let similar = elements.map(\.0).filter { $0 != name && $0.hasPrefix(first) }
        let others = rng.sample(elements.map(\.0).filter { $0 != name && !similar.contains($0) }, 3)
        let style = rng.nextInt(2)
        func text(_ e: String) -> String {
            style == 0 ? "The element with the symbol \(symbol) is \(e)." : "\(symbol) is the symbol for \(e)."
        }
        let prompt = rng.pick(["Which chemical element has the symbol \(symbol)?", "What element does the symbol \(symbol) stand for?"])
        return SynthDraft(
            key: "element:\(symbol)", prompt: prompt, correct: text(name),
            wrong: (rng.sample(similar, 2) + others).map(text))
    }
}
